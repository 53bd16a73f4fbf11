"""The pure core: events in, effects out, and the domain (intake, notes, vocabulary, progress).

No I/O and no clock: every rule here is testable without a host, a store or a network."""
