//! Kiss-o'-death: RATE makes the client poll less often, DENY makes it stop.

mod common;

use common::ScenarioText;
use gnomon_core::poll::StopReason;
use gnomon_proto::KissCode;

/// A good server and "strict" (of `kind`, answering with `kiss` if given).
fn scenario(kind: &str, kiss: Option<&str>) -> ScenarioText {
    let text = ScenarioText::new("kod", 3600)
        .server("good", "truechimer")
        .server("strict", kind);
    let text = match kiss {
        Some(kiss) => text.set(format!("kiss_code = {kiss:?}")),
        None => text,
    };
    text.node("client")
        .source("good", "minpoll = 4, maxpoll = 4")
        .source("strict", "minpoll = 4, maxpoll = 4, iburst = true")
}

fn requests_to_strict(scenario: ScenarioText) -> (u64, gnomon_sim::simulation::Simulation) {
    let mut sim = scenario.simulation(1);
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
    let (normal, _) = requests_to_strict(scenario("truechimer", None));
    assert!(normal >= 200, "{normal}");

    let (kissed, sim) = requests_to_strict(scenario("kod", Some("RATE")));
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
    let (kissed, sim) = requests_to_strict(scenario("kod", Some("DENY")));
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
