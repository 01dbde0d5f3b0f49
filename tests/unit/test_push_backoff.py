"""Push mode's reconnection delays: exponential, capped, with jitter."""

from corpmail.scanner.retry import backoff_seconds


def test_backoff_doubles_up_to_the_cap_with_half_of_it_random():
    fixed = [backoff_seconds(n, 1.0, 300.0, rnd=lambda: 0.0) for n in range(1, 11)]
    assert fixed == [0.5, 1, 2, 4, 8, 16, 32, 64, 128, 150]
    assert backoff_seconds(3, 1.0, 300.0, rnd=lambda: 1.0) == 4.0
    assert backoff_seconds(30, 1.0, 300.0, rnd=lambda: 0.999) <= 300.0
