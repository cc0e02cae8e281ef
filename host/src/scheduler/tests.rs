use super::*;
use std::sync::mpsc;

fn share(weight: u32, max_concurrent: u32, cpu_ms: Option<u64>) -> Arc<Lane> {
    Arc::new(Lane::new(Share {
        weight,
        max_concurrent,
        cpu_per_second: cpu_ms.map(Duration::from_millis),
    }))
}

/// A job that reports `cost` and tells `done` how it was called.
fn job(cost: Duration, tag: &'static str, done: &mpsc::Sender<(&'static str, Verdict)>) -> Job {
    let done = done.clone();
    Box::new(move |verdict| {
        let ran = verdict == Verdict::Run;
        let _ = done.send((tag, verdict));
        if ran { cost } else { Duration::ZERO }
    })
}

/// A job that runs until `release` is dropped or sent to, and reports `started`.
fn blocking(started: &mpsc::Sender<()>, release: mpsc::Receiver<()>) -> Job {
    let started = started.clone();
    Box::new(move |verdict| {
        if verdict == Verdict::Run {
            let _ = started.send(());
            let _ = release.recv();
        }
        Duration::ZERO
    })
}

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn jobs_run_on_the_decision_threads() {
    let scheduler = Scheduler::start(2, 64, Duration::ZERO).unwrap();
    let lane = share(1, 2, None);
    let (tx, rx) = mpsc::channel();
    scheduler.submit(
        &lane,
        WAIT,
        Box::new(move |verdict| {
            let name = std::thread::current().name().map(str::to_owned);
            let _ = tx.send((verdict, name));
            Duration::from_micros(7)
        }),
    );
    let (verdict, name) = rx.recv().unwrap();
    assert_eq!(verdict, Verdict::Run);
    assert!(name.unwrap().starts_with("tailor-decide-"));
    let usage = wait_for(|| Some(lane.usage()).filter(|u| u.decisions == 1));
    assert_eq!(usage.cpu_nanos, 7_000);
    assert_eq!((usage.waiting, usage.running), (0, 0));
}

fn wait_for<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    for _ in 0..3000 {
        if let Some(found) = probe() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("not reached in 30 s");
}

#[test]
fn under_contention_lanes_get_cpu_in_proportion_to_their_weights() {
    let scheduler = Scheduler::start(1, 1000, Duration::ZERO).unwrap();
    let (started, is_started) = mpsc::channel();
    let (release, gate) = mpsc::channel();
    // Hold the only thread until both lanes have all their work queued.
    scheduler.submit(&share(1, 1, None), WAIT, blocking(&started, gate));
    is_started.recv().unwrap();
    let (done, finished) = mpsc::channel();
    let heavy = share(3, 1, None);
    let light = share(1, 1, None);
    for _ in 0..400 {
        scheduler.submit(&heavy, WAIT, job(Duration::from_millis(1), "heavy", &done));
        scheduler.submit(&light, WAIT, job(Duration::from_millis(1), "light", &done));
    }
    drop(release);
    let first: Vec<&str> = (0..400).map(|_| finished.recv().unwrap().0).collect();
    let heavy_runs = first.iter().filter(|tag| **tag == "heavy").count();
    // Three to one, give or take the first picks.
    assert!((295..=305).contains(&heavy_runs), "{heavy_runs} of 400");
}

#[test]
fn a_capped_lane_waits_then_sheds_over_budget_while_others_run() {
    let scheduler = Scheduler::start(1, 1000, Duration::ZERO).unwrap();
    // 100 ms of CPU per second banks at most 10 ms: two 5 ms decisions, then a 50 ms debt.
    let capped = share(1, 1, Some(100));
    let free = share(1, 1, None);
    let (done, finished) = mpsc::channel();
    for _ in 0..40 {
        scheduler.submit(
            &capped,
            Duration::from_millis(20),
            job(Duration::from_millis(5), "capped", &done),
        );
        scheduler.submit(&free, WAIT, job(Duration::from_millis(5), "free", &done));
    }
    let outcomes: Vec<(&str, Verdict)> = (0..80).map(|_| finished.recv().unwrap()).collect();
    let ran = |tag| {
        outcomes
            .iter()
            .filter(|(t, v)| *t == tag && *v == Verdict::Run)
            .count()
    };
    assert_eq!(ran("free"), 40, "the uncapped lane is never shed");
    assert!(ran("capped") < 20, "{} capped decisions ran", ran("capped"));
    let shed = outcomes
        .iter()
        .find_map(|(t, v)| match v {
            Verdict::Shed(Shed::OverBudget(why)) if *t == "capped" => Some(why.clone()),
            _ => None,
        })
        .expect("the capped lane sheds");
    assert!(shed.contains("CPU budget"), "{shed}");
    let usage = capped.usage();
    assert_eq!(usage.shed_over_budget as usize, 40 - ran("capped"));
}

#[test]
fn a_lane_at_its_bound_leaves_the_other_threads_to_the_rest() {
    let scheduler = Scheduler::start(2, 1000, Duration::ZERO).unwrap();
    let slow = share(1, 1, None);
    let (started, is_started) = mpsc::channel();
    let (release_first, first_gate) = mpsc::channel();
    let (_release_second, second_gate) = mpsc::channel::<()>();
    scheduler.submit(&slow, WAIT, blocking(&started, first_gate));
    is_started.recv().unwrap();
    // A second slow decision waits for the first; the other thread serves everyone else.
    scheduler.submit(&slow, WAIT, blocking(&started, second_gate));
    let quick = share(1, 2, None);
    let (done, finished) = mpsc::channel();
    for _ in 0..100 {
        scheduler.submit(&quick, WAIT, job(Duration::from_micros(10), "quick", &done));
    }
    for _ in 0..100 {
        assert_eq!(finished.recv().unwrap().1, Verdict::Run);
    }
    assert_eq!(slow.usage().waiting, 1, "the second slow one still waits");
    assert!(
        is_started.try_recv().is_err(),
        "it did not start beside the first"
    );
    drop(release_first);
    is_started.recv().unwrap();
}

#[test]
fn a_full_lane_refuses_at_once_and_stopping_sheds_what_waits() {
    let scheduler = Scheduler::start(2, 2, Duration::ZERO).unwrap();
    let lane = share(1, 1, None);
    let (started, is_started) = mpsc::channel();
    let (release, gate) = mpsc::channel::<()>();
    scheduler.submit(&lane, WAIT, blocking(&started, gate));
    is_started.recv().unwrap();
    let (done, finished) = mpsc::channel();
    for _ in 0..3 {
        scheduler.submit(&lane, WAIT, job(Duration::ZERO, "x", &done));
    }
    match finished.recv().unwrap().1 {
        Verdict::Shed(Shed::OverBudget(why)) => assert!(why.contains("already waiting"), "{why}"),
        other => panic!("{other:?}"),
    }
    // The two waiting (the lane is at its bound) are shed by the idle thread on stopping.
    drop(scheduler);
    for _ in 0..2 {
        match finished.recv_timeout(WAIT).unwrap().1 {
            Verdict::Shed(Shed::Capacity(why)) => assert!(why.contains("shutting down"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
    drop(release);
}

/// Runs `n` decisions of `cost` on the decision threads and waits until they are charged.
fn prove(scheduler: &Scheduler, lane: &Arc<Lane>, n: u64, cost: Duration) {
    let (done, finished) = mpsc::channel();
    let before = lane.usage().decisions;
    for _ in 0..n {
        scheduler.submit(lane, WAIT, job(cost, "proof", &done));
    }
    for _ in 0..n {
        assert_eq!(finished.recv().unwrap().1, Verdict::Run);
    }
    wait_for(|| Some(()).filter(|()| lane.usage().decisions == before + n));
}

#[test]
fn a_cheap_lane_runs_inline_once_proven_and_is_charged_as_usual() {
    let scheduler = Scheduler::start(2, 64, Duration::from_micros(250)).unwrap();
    let lane = share(1, 1, None);
    assert!(scheduler.try_inline(&lane).is_none(), "not proven yet");
    prove(&scheduler, &lane, inline::PROOF, Duration::from_micros(20));
    let inline = scheduler.try_inline(&lane).expect("proven cheap");
    assert_eq!(lane.usage().running, 1);
    // Its bound of one decision at once is about decision threads, which inline ones do not
    // hold: a second may run beside it, and a submitted one still runs on a thread.
    let second = scheduler
        .try_inline(&lane)
        .expect("inline ones hold no decision thread");
    let (done, finished) = mpsc::channel();
    scheduler.submit(&lane, WAIT, job(Duration::from_micros(20), "queued", &done));
    assert_eq!(finished.recv().unwrap().1, Verdict::Run);
    inline.finish(Duration::from_micros(30));
    second.finish(Duration::from_micros(40));
    let usage = wait_for(|| Some(lane.usage()).filter(|u| u.decisions == inline::PROOF + 3));
    assert_eq!((usage.running, usage.inline), (0, 2));
    assert_eq!(usage.cpu_nanos, (inline::PROOF + 1) * 20_000 + 70_000);
}

#[test]
fn a_lane_often_over_the_bound_goes_back_to_the_decision_threads() {
    let scheduler = Scheduler::start(2, 64, Duration::from_micros(250)).unwrap();
    let lane = share(1, 2, None);
    prove(&scheduler, &lane, inline::PROOF, Duration::from_micros(20));
    // One decision over the bound (a preempted one, say) does not demote it.
    scheduler
        .try_inline(&lane)
        .expect("proven cheap")
        .finish(Duration::from_millis(3));
    let mut inline = 0;
    while let Some(decision) = scheduler.try_inline(&lane) {
        decision.finish(Duration::from_millis(3));
        inline += 1;
        assert!(inline < 10, "still inline after {inline} slow decisions");
    }
    assert!(inline >= 2, "demoted after {inline} more slow decisions");
    // Back on the decision threads, cheap decisions bring it back.
    let mut threaded = 0;
    while scheduler.try_inline(&lane).is_none() {
        prove(&scheduler, &lane, 1, Duration::from_micros(20));
        threaded += 1;
        assert!(threaded < 100, "not back after {threaded} cheap decisions");
    }
    // With the bound off nothing runs inline at all.
    let off = Scheduler::start(1, 64, Duration::ZERO).unwrap();
    let other = share(1, 1, None);
    prove(&off, &other, inline::PROOF, Duration::from_micros(20));
    assert!(off.try_inline(&other).is_none());
}

#[test]
fn inline_never_jumps_ahead_of_a_lane_that_could_run() {
    let scheduler = Scheduler::start(1, 64, Duration::from_micros(250)).unwrap();
    let cheap = share(1, 1, None);
    prove(&scheduler, &cheap, inline::PROOF, Duration::from_micros(20));
    // Hold the only thread; another lane's job then waits, eligible.
    let (started, is_started) = mpsc::channel();
    let (release, gate) = mpsc::channel();
    scheduler.submit(&share(1, 1, None), WAIT, blocking(&started, gate));
    is_started.recv().unwrap();
    let waiting = share(1, 1, None);
    let (done, finished) = mpsc::channel();
    scheduler.submit(&waiting, WAIT, job(Duration::ZERO, "waiting", &done));
    assert!(
        scheduler.try_inline(&cheap).is_none(),
        "a runnable lane waits for a thread"
    );
    drop(release);
    assert_eq!(finished.recv().unwrap().1, Verdict::Run);
    wait_for(|| scheduler.try_inline(&cheap)).finish(Duration::ZERO);
    // A lane blocked by its own bound does not hold the cheap one back.
    let (release, gate) = mpsc::channel();
    let bound = share(1, 1, None);
    scheduler.submit(&bound, WAIT, blocking(&started, gate));
    is_started.recv().unwrap();
    scheduler.submit(&bound, WAIT, job(Duration::ZERO, "bound", &done));
    assert!(scheduler.try_inline(&cheap).is_some());
    drop(release);
    // Nor does its own work waiting for a thread (the inline one holds no thread).
    let (release, gate) = mpsc::channel();
    scheduler.submit(&cheap, WAIT, blocking(&started, gate));
    is_started.recv().unwrap();
    scheduler.submit(&cheap, WAIT, job(Duration::ZERO, "cheap", &done));
    assert!(scheduler.try_inline(&cheap).is_some());
    drop(release);
}
