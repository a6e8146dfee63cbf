#!/usr/bin/env python3
"""A straightforward NTU RGB+D reader written like ST-GCN's `tools/utils/ntu_read_skeleton.py`
(`read_skeleton` + `read_xyz`) and `ntu_gendata.py` (sorted files, a (3, 300, 25, 2) float32
slot per sample): read line by line, `float()` per token, a numpy array per file.

Used by scripts/bench-import for the side-by-side comparison:
    ntu_read_xyz.py <dir of .skeleton files> [limit]
prints one line: files, MB, seconds, MB/s.
"""
import os
import sys
import time

import numpy as np

MAX_BODY, NUM_JOINT, MAX_FRAME = 2, 25, 300
BODY_KEYS = ["bodyID", "clipedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence",
             "handRightState", "isResticted", "leanX", "leanY", "trackingState"]
JOINT_KEYS = ["x", "y", "z", "depthX", "depthY", "colorX", "colorY", "orientationW", "orientationX",
              "orientationY", "orientationZ", "trackingState"]


def read_skeleton(path):
    with open(path, "r") as f:
        seq = {"numFrame": int(f.readline()), "frameInfo": []}
        for _ in range(seq["numFrame"]):
            frame = {"numBody": int(f.readline()), "bodyInfo": []}
            for _ in range(frame["numBody"]):
                body = {k: float(v) for k, v in zip(BODY_KEYS, f.readline().split())}
                body["numJoint"] = int(f.readline())
                body["jointInfo"] = []
                for _ in range(body["numJoint"]):
                    joint = {k: float(v) for k, v in zip(JOINT_KEYS, f.readline().split())}
                    body["jointInfo"].append(joint)
                frame["bodyInfo"].append(body)
            seq["frameInfo"].append(frame)
    return seq


def read_xyz(path, max_body=MAX_BODY, num_joint=NUM_JOINT):
    seq = read_skeleton(path)
    data = np.zeros((3, seq["numFrame"], num_joint, max_body))
    for n, f in enumerate(seq["frameInfo"]):
        for m, b in enumerate(f["bodyInfo"]):
            for j, v in enumerate(b["jointInfo"]):
                if m < max_body and j < num_joint:
                    data[:, n, j, m] = [v["x"], v["y"], v["z"]]
    return data


def main():
    root = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    files = sorted(f for f in os.listdir(root) if f.endswith(".skeleton"))
    if limit:
        files = files[:limit]
    total = sum(os.path.getsize(os.path.join(root, f)) for f in files)
    sample = np.zeros((3, MAX_FRAME, NUM_JOINT, MAX_BODY), dtype=np.float32)
    start, cpu0 = time.perf_counter(), time.process_time()
    for name in files:
        data = read_xyz(os.path.join(root, name))
        sample[:] = 0
        sample[:, 0:min(data.shape[1], MAX_FRAME)] = data[:, :MAX_FRAME]
    secs, cpu = time.perf_counter() - start, time.process_time() - cpu0
    print(f"python read_xyz: {len(files)} files, {total / 1e6:.1f} MB in {secs:.2f} s = {total / 1e6 / secs:.2f} MB/s; "
          f"CPU {cpu:.2f} s = {total / 1e6 / cpu:.2f} MB per CPU-second")


if __name__ == "__main__":
    main()
