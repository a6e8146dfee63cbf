"""Print the scalars of the TensorBoard event files in a directory as JSON, read by
TensorBoard's own EventAccumulator: {tag: [[step, value], ...]}. Used by the tests of
skelflow's event-file writer (stages/src/learn/tensorboard.rs)."""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
out = {
    tag: [[e.step, e.value] for e in acc.Scalars(tag)]
    for tag in acc.Tags()["scalars"]
}
print(json.dumps(out, sort_keys=True))
