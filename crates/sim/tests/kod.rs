//! Kiss-o'-death: RATE makes the client poll less often, DENY makes it stop.

mod common;

use gnomon_core::poll::StopReason;
use gnomon_proto::KissCode;

fn scenario(kind: &str, kiss: &str) -> String {
    format!(
        r#"
    name = "kod"
    duration_s = 3600
    [[servers]]
    name = "good"
    kind = "truechimer"
    [[servers]]
    name = "strict"
    kind = "{kind}"
    kiss_code = "{kiss}"
    [[nodes]]
    name = "client"
    [[nodes.sources]]
    upstream = "good"
    minpoll = 4
    maxpoll = 4
    [[nodes.sources]]
    upstream = "strict"
    minpoll = 4
    maxpoll = 4
    iburst = true
"#
    )
}

fn requests_to_strict(text: &str) -> (u64, gnomon_sim::simulation::Simulation) {
    let mut sim = common::simulation(text, 1);
    sim.run();
    let n = sim
        .servers
        .iter()
        .find(|s| s.spec.name == "strict")
        .unwrap();
    (n.requests_received, sim)
}

#[test]
fn rate_kiss_raises_the_poll_interval() {
    // Baseline: a normal server with the same options gets a request every 16 s.
    let (normal, _) =
        requests_to_strict(&scenario("truechimer", "RATE").replace("kiss_code = \"RATE\"", ""));
    assert!(normal >= 200, "{normal}");

    let (kissed, sim) = requests_to_strict(&scenario("kod", "RATE"));
    let client = &sim.nodes[0];
    let strict = client.engine.source(client.sources[1].id).unwrap();
    assert!(
        strict.poll_state().poll() > 4,
        "poll {} after RATE",
        strict.poll_state().poll()
    );
    assert!(
        strict.poll_state().stopped().is_none(),
        "RATE does not stop"
    );
    assert!(
        kissed * 4 < normal,
        "{kissed} requests vs {normal} without RATE"
    );
    assert!(kissed >= 3, "still polled: {kissed}");
    // The good source keeps the clock synchronised meanwhile.
    assert!(client.clock.synchronized());
}

#[test]
fn deny_kiss_stops_the_source_for_good() {
    let (kissed, sim) = requests_to_strict(&scenario("kod", "DENY"));
    let client = &sim.nodes[0];
    assert_eq!(
        client.sources[1].stopped,
        Some(StopReason::AccessDenied(KissCode::Deny))
    );
    let strict = client.engine.source(client.sources[1].id).unwrap();
    assert!(strict.poll_state().next_send().is_none());
    // iburst may have had a few requests in flight when the first DENY came back.
    assert!(kissed <= 4, "{kissed} requests after DENY");
    assert!(client.clock.synchronized(), "the good source is still used");
}
