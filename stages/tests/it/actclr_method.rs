//! The AimCLR and ActCLR methods: each ActCLR switch removes exactly its component
//! (counted where the code path runs, and checked on the views), with every component
//! off ActCLR is MoCo with the similarity-mining loss (numerically), the canonical params,
//! the curriculum, the batch-level views, checkpoints, AimCLR's mining epoch, and the
//! validation-time errors about the anchor and the init encoder.

use crate::learn_common::rng_lock;
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skelflow_stages::data::Stream;
use skelflow_stages::learn::augment::{Aug, Clip};
use skelflow_stages::learn::data::{Batch, MemSource, batch_clips, to_batch};
use skelflow_stages::learn::encoders::{BackboneConfig, EncoderConfig, StgcnConfig};
use skelflow_stages::learn::method::{Anchor, Method, MethodSetup, StepAt};
use skelflow_stages::learn::optim::{OptimParams, ScheduleKind};
use skelflow_stages::methods::actclr::{self, Actclr, ActclrCounters, ActclrParams};
use skelflow_stages::methods::actclr_blocks::{gather_topk, kl_to_teacher, select_topk};
use skelflow_stages::methods::aimclr::{Aimclr, AimclrParams};
use skelflow_stages::methods::blocks::{Queue, ema_update, l2_normalize};
use skelflow_stages::methods::pretrain::Pretrain;
use skelflow_stages::{StageKind, Upstream};

const T: usize = 24;
const N: usize = 8;

/// A tiny ST-GCN without dropout (so that two implementations can be compared exactly).
fn encoder() -> EncoderConfig {
    EncoderConfig {
        backbone: BackboneConfig::Stgcn(StgcnConfig {
            hidden: 4,
            feature_dim: 16,
            dropout: 0.0,
            ..Default::default()
        }),
        proj_dim: 8,
        mlp: true,
        ..Default::default()
    }
}

fn optim() -> OptimParams {
    OptimParams {
        lr: 0.05,
        schedule: ScheduleKind::Constant,
        ..Default::default()
    }
}

fn source() -> MemSource {
    crate::learn_common::mem_source(32, T, 9)
}

fn mean_anchor(src: &MemSource) -> Anchor {
    let mut mean = vec![0f32; 3 * T * 25 * 2];
    for c in &src.clips {
        for (m, x) in mean.iter_mut().zip(&c.data) {
            *m += x / src.clips.len() as f32;
        }
    }
    Anchor {
        clip: Clip::new(3, T, 25, 2, mean),
        stream: Stream::Joint,
        count: src.clips.len(),
    }
}

fn params(v: serde_json::Value) -> ActclrParams {
    let mut base = serde_json::json!({"queue": 64, "topk": 16});
    for (k, x) in v.as_object().unwrap() {
        base[k] = x.clone();
    }
    let canon = actclr::check(&base).unwrap_or_else(|e| panic!("{base}: {e:?}"));
    serde_json::from_value(canon).unwrap()
}

fn at(epoch: usize, step: usize) -> StepAt {
    StepAt {
        epoch,
        epochs: 400,
        step,
        steps: 4,
        lr: 0.05,
    }
}

struct Fixture {
    enc: EncoderConfig,
    opt: OptimParams,
    dev: Device,
    src: MemSource,
    anchor: Anchor,
}

impl Fixture {
    fn new() -> Fixture {
        let src = source();
        let anchor = mean_anchor(&src);
        Fixture {
            enc: encoder(),
            opt: optim(),
            dev: Device::flex().autodiff(),
            src,
            anchor,
        }
    }
    fn setup(&self, stream: Stream) -> MethodSetup<'_> {
        MethodSetup {
            encoder: &self.enc,
            optim: &self.opt,
            device: &self.dev,
            seed: 1,
            stream,
            epochs: 400,
            frames: T,
            classes: 4,
            anchor: Some(&self.anchor),
            init: None,
        }
    }
    fn actclr(&self, p: ActclrParams, stream: Stream) -> Actclr {
        Actclr::new(p, &self.setup(stream)).unwrap()
    }
    /// Batch `b` of N clips: the method's views of the epoch, then its batch-level views.
    fn batch(
        &self,
        m: &dyn Method,
        views: &[Vec<Aug>],
        stream: Stream,
        b: usize,
        at: &StepAt,
    ) -> Batch {
        let ids: Vec<usize> = (b * N..b * N + N).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(100 + b as u64);
        let views = m
            .epoch_views(views, at.epoch, &mut rng)
            .unwrap_or_else(|| views.to_vec());
        let mut clips = batch_clips(&self.src, &ids, &views, stream, 1, at.epoch);
        m.batch_views(&mut clips, at, &mut rng);
        to_batch(clips, &self.src, &ids, &self.dev)
    }
}

fn run(switches: serde_json::Value, steps: usize) -> (ActclrCounters, Vec<String>) {
    let f = Fixture::new();
    f.dev.seed(1);
    let p = params(switches.clone());
    let views = actclr::views_for(&p);
    let mut m = f.actclr(p, Stream::Joint);
    let mut names = Vec::new();
    for s in 0..steps {
        let a = at(1, s);
        let b = f.batch(&m, &views, Stream::Joint, s % 4, &a);
        let out = m.step(&b, &a).unwrap();
        assert!(out.loss.is_finite(), "{switches}: loss {}", out.loss);
        names = out.terms.iter().map(|t| t.0.clone()).collect();
    }
    (m.counters.clone(), names)
}

#[test]
fn actclr_each_switch_removes_its_component() {
    let _rng = rng_lock();
    let c = |j: serde_json::Value| run(j, 2).0;
    let per_step = |x: u64| 2 * x;
    // the full paper model: anchor, three actionlets (key, query, positive), strong mix,
    // AdaIN, skeleton mix in views 2 and 3, mixed teacher, SAFP on the key, 3 KL terms
    let full = c(serde_json::json!({}));
    assert_eq!(
        full,
        ActclrCounters {
            steps: 2,
            anchors: 2,
            key_actionlets: 2,
            query_actionlets: 2,
            positive_actionlets: 2,
            online_actionlets: 0,
            strong_mixes: 2,
            adains: 2,
            skeleton_mixes: 4,
            teacher_mixes: 2,
            safp_pools: 2,
            kl_terms: 6,
            enqueues: 2,
        }
    );
    // Table 7: the strong view on the full area needs no query actionlet
    let full_area = c(serde_json::json!({"strong_region": "full"}));
    assert_eq!(
        (full_area.query_actionlets, full_area.strong_mixes),
        (0, per_step(1))
    );
    let mix_full = c(serde_json::json!({"mix_region": "full"}));
    assert_eq!(
        (
            mix_full.positive_actionlets,
            mix_full.skeleton_mixes,
            mix_full.teacher_mixes
        ),
        (0, per_step(2), per_step(1))
    );
    // Table 8
    let no_tnon = c(serde_json::json!({"t_non": false, "skeleton_mix": false}));
    assert_eq!(
        (
            no_tnon.strong_mixes,
            no_tnon.skeleton_mixes,
            no_tnon.teacher_mixes,
            no_tnon.query_actionlets,
            no_tnon.positive_actionlets
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(
        (no_tnon.adains, no_tnon.key_actionlets),
        (per_step(1), per_step(1))
    );
    let no_adain = c(serde_json::json!({"t_non": false, "skeleton_mix": false, "adain": false}));
    assert_eq!(no_adain.adains, 0);
    // Table 9
    let none = c(serde_json::json!({"safp": "none"}));
    assert_eq!((none.key_actionlets, none.safp_pools), (0, 0));
    assert_eq!(
        none.query_actionlets,
        per_step(1),
        "MATS keeps its actionlets"
    );
    let online = c(serde_json::json!({"safp": "online"}));
    assert_eq!(
        (
            online.key_actionlets,
            online.online_actionlets,
            online.safp_pools
        ),
        (0, per_step(3), per_step(3))
    );
    let both = c(serde_json::json!({"safp": "both"}));
    assert_eq!(
        (both.key_actionlets, both.online_actionlets, both.safp_pools),
        (per_step(1), per_step(3), per_step(4))
    );
    // every component off: no anchor, no actionlet, no mixing at all
    let off = c(all_off());
    assert_eq!(
        off,
        ActclrCounters {
            steps: 2,
            kl_terms: 6,
            enqueues: 2,
            ..Default::default()
        }
    );
}

fn all_off() -> serde_json::Value {
    serde_json::json!({"t_non": false, "skeleton_mix": false, "adain": false, "safp": "none", "curriculum": false})
}

#[test]
fn actclr_switches_act_on_the_views() {
    let f = Fixture::new();
    let a = at(1, 0);
    for (adain, mix) in [(true, true), (false, true), (true, false), (false, false)] {
        let switches = serde_json::json!({"adain": adain, "skeleton_mix": mix});
        let p = params(switches.clone());
        let views = actclr::views_for(&p);
        let m = f.actclr(p, Stream::Joint);
        let ids: Vec<usize> = (0..N).collect();
        let mut clips = batch_clips(&f.src, &ids, &views, Stream::Joint, 1, 1);
        m.batch_views(&mut clips, &a, &mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(clips.views.len(), 7, "{switches}");
        let v = &clips.views;
        assert_eq!(
            v[4] == v[2],
            !adain,
            "{switches}: AdaIN makes view 2's input"
        );
        assert_eq!(v[5] == v[4], !mix, "{switches}: skeleton mix of view 2");
        // joint stream: view 3 cut-mixes the AdaIN'd clips (the reference's in-place
        // ske_trans)
        let p3 = if adain { &v[4] } else { &v[2] };
        assert_eq!(&v[6] == p3, !mix, "{switches}: skeleton mix of view 3");
        assert_eq!(clips.extras.indices("swap3_partners").is_some(), mix);
        assert_eq!(clips.extras.indices("trans_partners").is_some(), adain);
    }
    // motion stream: view 3 mixes the untransformed clips
    let p = params(serde_json::json!({"skeleton_mix": false}));
    let views = actclr::views_for(&p);
    let m = f.actclr(p, Stream::Motion);
    let ids: Vec<usize> = (0..N).collect();
    let mut clips = batch_clips(&f.src, &ids, &views, Stream::Motion, 1, 1);
    m.batch_views(&mut clips, &a, &mut ChaCha8Rng::seed_from_u64(3));
    assert!(clips.views[6] == clips.views[2] && clips.views[4] != clips.views[2]);
}

/// MoCo's encoders and queue with the similarity-mining loss of ActCLR on three query
/// views (aug, weak, weak) against the weak key: an independent implementation.
struct SimMine {
    q: skelflow_stages::learn::encoders::Encoder,
    k: skelflow_stages::learn::encoders::Encoder,
    queue: Queue,
    optim: burn::optim::ModuleOptimizer,
}

impl SimMine {
    fn step(&mut self, b: &Batch, lr: f64) -> f32 {
        self.k = ema_update(self.k.clone(), &self.q, 0.999).no_grad();
        let key = l2_normalize(self.k.embed(b.views[3].clone()), 1).detach();
        let queue = self.queue.keys.clone();
        let (top, idx) = select_topk(key.clone().matmul(queue.clone().transpose()), 16, 0.95);
        let mut loss = None;
        for x in [&b.views[1], &b.views[2], &b.views[2]] {
            let q = l2_normalize(self.q.embed(x.clone()), 1);
            let s = q.matmul(queue.clone().transpose()).square();
            let l = kl_to_teacher(gather_topk(s, idx.clone()), top.clone(), 0.1, 0.04);
            loss = Some(match loss {
                Some(sum) => sum + l,
                None => l,
            });
        }
        let loss = loss.unwrap();
        let v = loss.clone().into_scalar::<f32>();
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &self.q);
        self.q = self.optim.step(lr, self.q.clone(), grads);
        self.queue.enqueue(key);
        v
    }
}

#[test]
fn actclr_with_every_component_off_is_moco_with_similarity_mining() {
    let _rng = rng_lock();
    let f = Fixture::new();
    f.dev.seed(7);
    let p = params(all_off());
    assert!(!p.needs_actionlet());
    let views = actclr::views_for(&p);
    let mut m = f.actclr(p, Stream::Joint);
    let mut base = SimMine {
        q: m.q.clone(),
        k: m.k.clone(),
        queue: m.queue.clone(),
        optim: f.opt.build(),
    };
    for s in 0..3 {
        let a = at(1, s);
        let b = f.batch(&m, &views, Stream::Joint, s, &a);
        let ours = m.step(&b, &a).unwrap().loss;
        let theirs = base.step(&b, a.lr);
        assert!(
            (ours - theirs).abs() <= 1e-5 * theirs.abs().max(1e-3),
            "step {s}: ActCLR with everything off {ours} vs MoCo + similarity mining {theirs}"
        );
    }
}

#[test]
fn actclr_canonical_params_fill_variant_defaults_and_normalise_inert_switches() {
    let get = |v: serde_json::Value| actclr::check(&v).unwrap();
    let paper = get(serde_json::json!({}));
    assert_eq!(
        (&paper["anchor"], &paper["cosine"], &paper["smoothing"]),
        (
            &serde_json::json!("dataset"),
            &serde_json::json!("embedding"),
            &serde_json::json!("adjacency")
        )
    );
    let code = get(serde_json::json!({"variant": "code"}));
    assert_eq!(
        (&code["anchor"], &code["cosine"], &code["smoothing"]),
        (
            &serde_json::json!("batch"),
            &serde_json::json!("head"),
            &serde_json::json!("body_parts")
        )
    );
    assert_eq!(get(paper.clone()), paper, "canonical is a fixed point");
    // the intended actionlet with the code's recipe
    let mixed = get(serde_json::json!({"variant": "code", "cosine": "embedding"}));
    assert_eq!(mixed["cosine"], "embedding");
    // inert: the strong view's region and noise without T_non; the mix region without a mix
    assert_eq!(
        get(serde_json::json!({"t_non": false, "noise": 0.1, "strong_region": "full"})),
        get(serde_json::json!({"t_non": false}))
    );
    assert_eq!(
        get(serde_json::json!({"skeleton_mix": false, "mix_region": "full", "swap_epoch": 5})),
        get(serde_json::json!({"skeleton_mix": false}))
    );
    assert_ne!(
        get(serde_json::json!({"noise": 0.1})),
        get(serde_json::json!({})),
        "the noise level matters with T_non"
    );
    let errs = actclr::check(&serde_json::json!({"queue": 100, "topk": 8192, "safp": "offlin"}))
        .unwrap_err();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(text.iter().any(|t| t.contains("safp")), "{text:?}");
    let errs = actclr::check(&serde_json::json!({"queue": 100, "topk": 8192})).unwrap_err();
    assert!(errs[0].to_string().starts_with("param `topk`"), "{errs:?}");
}

#[test]
fn actclr_default_views_follow_t_act_and_t_non() {
    let n = |v: &[Aug], f: fn(&Aug) -> bool| v.iter().filter(|a| f(a)).count();
    let is_noise = |a: &Aug| matches!(a, Aug::GaussNoise { .. });
    let full = actclr::views_for(&params(serde_json::json!({"noise": 0.1})));
    assert_eq!(
        full.iter().map(|v| v.len()).collect::<Vec<_>>(),
        [9, 7, 2, 2]
    );
    assert!(full[0].contains(&Aug::GaussNoise { std: 0.1, p: 0.5 }));
    assert!(full[1].contains(&Aug::GaussNoise { std: 0.01, p: 0.5 }));
    let no_t = actclr::views_for(&params(serde_json::json!({"t_act": false})));
    // without T_act the strong view keeps T_non's ops: noise, interpolate, rescale
    assert_eq!(no_t[0].len(), 3);
    assert_eq!(n(&no_t[0], is_noise), 1);
    assert!(no_t[1].is_empty() && no_t[2].is_empty() && no_t[3].is_empty());
}

#[test]
fn actclr_curriculum_drops_two_extra_ops_per_stage() {
    let f = Fixture::new();
    let p = params(serde_json::json!({}));
    let views = actclr::views_for(&p);
    let m = f.actclr(p, Stream::Joint);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let lens = |e: usize, rng: &mut ChaCha8Rng| -> Vec<usize> {
        m.epoch_views(&views, e, rng)
            .unwrap_or_else(|| views.clone())
            .iter()
            .map(|v| v.len())
            .collect()
    };
    // 0-based 100 is the last epoch with every op (1-based 101)
    assert_eq!(lens(101, &mut rng), [9, 7, 2, 2]);
    assert_eq!(lens(102, &mut rng), [7, 5, 2, 2]);
    assert_eq!(lens(202, &mut rng), [5, 3, 2, 2]);
    assert_eq!(lens(301, &mut rng), [5, 3, 2, 2]);
    assert_eq!(
        lens(302, &mut rng),
        [0, 0, 0, 0],
        "no augmentation, not even crop and shear"
    );
    // the subsets are random per epoch and keep the ops' order
    let a = m
        .epoch_views(&views, 150, &mut ChaCha8Rng::seed_from_u64(1))
        .unwrap();
    let b = m
        .epoch_views(&views, 150, &mut ChaCha8Rng::seed_from_u64(2))
        .unwrap();
    assert_ne!(a, b);
    let pos = |x: &Aug| views[0].iter().position(|y| y == x).unwrap();
    assert!(a[0].windows(2).all(|w| pos(&w[0]) < pos(&w[1])));
    let off = f.actclr(
        params(serde_json::json!({"curriculum": false})),
        Stream::Joint,
    );
    assert!(off.epoch_views(&views, 302, &mut rng).is_none());
}

#[test]
fn actclr_code_variant_has_an_empty_actionlet_and_trains() {
    let _rng = rng_lock();
    let f = Fixture::new();
    f.dev.seed(2);
    let p = params(serde_json::json!({"variant": "code"}));
    let views = actclr::views_for(&p);
    let mut m = Actclr::new(
        p,
        &MethodSetup {
            anchor: None,
            ..f.setup(Stream::Bone)
        },
    )
    .unwrap();
    for s in 0..2 {
        let a = at(1, s);
        let b = f.batch(&m, &views, Stream::Bone, s, &a);
        let out = m.step(&b, &a).unwrap();
        assert!(out.loss.is_finite());
        let term = |n: &str| out.terms.iter().find(|t| t.0 == n).unwrap().1;
        assert!(term("query_actionlet_area") < 1e-3, "HEAD: no actionlet");
        assert!(term("key_actionlet_area") < 1e-3, "HEAD: no actionlet");
    }
    assert_eq!(m.counters.anchors, 2, "the batch mean, every step");
}

#[test]
fn actclr_a_checkpoint_continues_identically() {
    let _rng = rng_lock();
    let f = Fixture::new();
    f.dev.seed(3);
    let p = params(serde_json::json!({"safp": "both"}));
    let views = actclr::views_for(&p);
    let mut m = f.actclr(p.clone(), Stream::Joint);
    for s in 0..2 {
        let a = at(1, s);
        let b = f.batch(&m, &views, Stream::Joint, s, &a);
        m.step(&b, &a).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    m.save(dir.path()).unwrap();
    let a = at(1, 2);
    let next = f.batch(&m, &views, Stream::Joint, 2, &a);
    let want = m.step(&next, &a).unwrap();
    f.dev.seed(99);
    let mut r = f.actclr(p, Stream::Joint);
    r.load(dir.path()).unwrap();
    assert_eq!(r.counters.steps, 2);
    let got = r.step(&next, &a).unwrap();
    assert_eq!(got.loss, want.loss);
    assert_eq!(got.terms, want.terms);
}

#[test]
fn aimclr_mines_neighbours_after_the_mining_epoch_and_resumes() {
    let _rng = rng_lock();
    let f = Fixture::new();
    f.dev.seed(4);
    let p = AimclrParams {
        queue: 64,
        mining_epoch: 2,
        ..Default::default()
    };
    let views: Vec<Vec<Aug>> = ["extreme", "normal", "normal"]
        .iter()
        .map(|n| skelflow_stages::learn::augment::preset_view(n).unwrap())
        .collect();
    let mut m = Aimclr::new(p.clone(), &f.setup(Stream::Motion)).unwrap();
    assert!(!m.mining(3) && m.mining(4), "0-based epoch > 2");
    let mut last = Vec::new();
    for (s, epoch) in [1, 3, 4].into_iter().enumerate() {
        let a = at(epoch, s);
        let b = f.batch(&m, &views, Stream::Motion, s, &a);
        let out = m.step(&b, &a).unwrap();
        assert!(out.loss.is_finite());
        let mining = out.terms.iter().find(|t| t.0 == "mining").unwrap().1;
        assert_eq!(mining == 1.0, epoch == 4);
        last = out.terms;
    }
    assert!(last.iter().any(|t| t.0 == "loss_ddm_ed"));
    let dir = tempfile::tempdir().unwrap();
    m.save(dir.path()).unwrap();
    let a = at(5, 3);
    let next = f.batch(&m, &views, Stream::Motion, 3, &a);
    let want = m.step(&next, &a).unwrap();
    f.dev.seed(98);
    let mut r = Aimclr::new(p, &f.setup(Stream::Motion)).unwrap();
    r.load(dir.path()).unwrap();
    assert_eq!(r.step(&next, &a).unwrap().loss, want.loss);
}

#[test]
fn a_key_encoder_copy_keeps_its_own_batchnorm_statistics() {
    let _rng = rng_lock();
    let f = Fixture::new();
    let m = f.actclr(params(serde_json::json!({})), Stream::Joint);
    let stats = |e: &skelflow_stages::learn::encoders::Encoder| match &e.backbone {
        skelflow_stages::learn::encoders::Backbone::Stgcn(s) => {
            crate::learn_common::running_mean(&s.data_bn)
        }
        _ => unreachable!(),
    };
    let before = stats(&m.q);
    let k_before = stats(&m.k);
    let x = Tensor::<5>::random(
        [2, 3, T, 25, 2],
        burn::tensor::Distribution::Normal(1.0, 1.0),
        &f.dev,
    );
    let _ = m.k.embed(x);
    // the key encoder runs in training mode, as the reference's encoder_k does: its own
    // running statistics move, the query encoder's do not (a burn `clone` would share them)
    assert_ne!(stats(&m.k), k_before, "the key encoder's statistics moved");
    assert_eq!(
        stats(&m.q),
        before,
        "the key encoder's forward left q's statistics alone"
    );
}

// ------------------------------------------------------------------ validation-time errors

fn up(instance: &str, kind: &str, params: serde_json::Value, inputs: Vec<Upstream>) -> Upstream {
    Upstream {
        instance: instance.into(),
        kind: kind.into(),
        params,
        inputs,
    }
}

fn import(instance: &str, variant: &str) -> Upstream {
    up(
        instance,
        "ntu.import",
        serde_json::json!({"variant": variant, "root": ""}),
        vec![],
    )
}

fn anchor(instance: &str, bench: &str, stream: &str, data: Upstream) -> Upstream {
    up(
        instance,
        "anchor.average_motion",
        serde_json::json!({"benchmark": bench, "stream": stream}),
        vec![data],
    )
}

/// `check_inputs` of a `pretrain` with these params and upstreams, as text.
fn input_errors(pretrain: serde_json::Value, inputs: &[Upstream]) -> Vec<String> {
    let canon = StageKind::check(&Pretrain, &pretrain).unwrap_or_else(|e| panic!("{e:?}"));
    StageKind::check_inputs(&Pretrain, &canon, inputs)
        .iter()
        .map(|e| e.to_string())
        .collect()
}

fn actclr_stage(method_params: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "method": "actclr",
        "method_params": method_params,
        "encoder": "stgcn",
        "benchmark": "ntu60-xview",
        "stream": "motion",
    })
}

#[test]
fn actclr_inputs_are_checked_before_anything_runs() {
    let data = import("import", "frame50");
    let ok = anchor("anchor", "ntu60-xview", "joint", data.clone());
    assert_eq!(
        input_errors(
            actclr_stage(serde_json::json!({})),
            &[data.clone(), ok.clone()]
        ),
        Vec::<String>::new()
    );
    // an anchor in the stage's own stream is fine too
    let motion = anchor("anchor", "ntu60-xview", "motion", data.clone());
    assert!(input_errors(actclr_stage(serde_json::json!({})), &[data.clone(), motion]).is_empty());
    // no anchor with `anchor: dataset`
    let e = input_errors(
        actclr_stage(serde_json::json!({})),
        std::slice::from_ref(&data),
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "param `method_params.anchor`: `anchor: dataset` needs an `anchor.average_motion` stage"
        ),
        "{e:?}"
    );
    assert!(
        input_errors(
            actclr_stage(serde_json::json!({"anchor": "batch"})),
            std::slice::from_ref(&data)
        )
        .is_empty()
    );
    // an anchor of another preprocessing (and so another frame count)
    let other = import("import_agcn", "agcn_prenorm");
    let wrong = anchor("anchor", "ntu60-xview", "joint", other);
    let e = input_errors(actclr_stage(serde_json::json!({})), &[data.clone(), wrong]);
    assert!(
        e.iter()
            .any(|t| t.starts_with("param `method_params.anchor`")
                && t.contains("agcn_prenorm, 300 frames")
                && t.contains("frame50, 50 frames")),
        "{e:?}"
    );
    // another benchmark, another stream
    let xsub = anchor("anchor", "ntu60-xsub", "bone", data.clone());
    let e = input_errors(actclr_stage(serde_json::json!({})), &[data.clone(), xsub]);
    assert!(e.iter().any(|t| t.contains("`ntu60-xsub`")), "{e:?}");
    assert!(e.iter().any(|t| t.contains("mean bone sequence")), "{e:?}");
    // an anchor nobody uses
    let e = input_errors(
        actclr_stage(serde_json::json!({"variant": "code"})),
        &[data.clone(), ok.clone()],
    );
    assert!(e.iter().any(|t| t.contains("`anchor` is `batch`")), "{e:?}");
    // ActCLR's actionlet needs ST-GCN
    let mut bigru = actclr_stage(serde_json::json!({"anchor": "batch"}));
    bigru["encoder"] = serde_json::json!("bigru");
    let e = input_errors(bigru, std::slice::from_ref(&data));
    assert!(
        e.iter().any(|t| t.contains("needs an ST-GCN encoder")),
        "{e:?}"
    );
}

#[test]
fn an_init_encoder_of_another_architecture_is_an_error_at_init() {
    let data = import("import", "frame50");
    let ok = anchor("anchor", "ntu60-xview", "joint", data.clone());
    let aimclr = |encoder: &str| {
        up(
            "aimclr",
            "pretrain",
            serde_json::json!({"method": "aimclr", "encoder": encoder}),
            vec![data.clone()],
        )
    };
    let mut stage = actclr_stage(serde_json::json!({}));
    stage["init"] = serde_json::json!("encoder");
    assert!(input_errors(stage.clone(), &[data.clone(), ok.clone(), aimclr("stgcn")]).is_empty());
    let e = input_errors(
        stage.clone(),
        &[data.clone(), ok.clone(), aimclr("stgcn64")],
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("param `init`: the init encoder `aimclr` is stgcn"),
        "{e:?}"
    );
    // the message names the field that differs (the short descriptions can coincide)
    assert!(
        e[0].contains("differs in backbone.hidden 16 here, 64 there"),
        "{e:?}"
    );
    // `init: encoder` without an encoder upstream
    let e = input_errors(stage, &[data, ok]);
    assert!(
        e[0].starts_with("param `init`: needs one upstream encoder"),
        "{e:?}"
    );
}
