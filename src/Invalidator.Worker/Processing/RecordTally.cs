using Invalidator.Worker.Events;

namespace Invalidator.Worker.Processing;

/// <summary>
/// Counts handled records by source, operation and outcome on the source loop, and publishes the counts
/// (<see cref="RecordHandled"/>) when <see cref="Publish"/> is called: once per batch instead of once per record, whose
/// tagged counter update was a visible share of a record's CPU. The first record of a kind is published at once, so
/// a new source or outcome shows without waiting for the batch. Not thread-safe: one per source loop, like
/// <see cref="RecordIntake"/>.
/// </summary>
internal sealed class RecordTally(WorkerEvents events)
{
    private readonly List<Kind> _kinds = [];
    private int _last;

    public void Add(string source, string operation, string outcome)
    {
        // Records of a batch are mostly of one kind: the last one is tried first, by reference (the strings are the
        // source's topic and constant labels), then every kind by value.
        if (_last < _kinds.Count && _kinds[_last].Is(source, operation, outcome))
        {
            _kinds[_last].Pending++;
            return;
        }

        for (var i = 0; i < _kinds.Count; i++)
        {
            if (_kinds[i].Is(source, operation, outcome))
            {
                _kinds[i].Pending++;
                _last = i;
                return;
            }
        }

        _kinds.Add(new Kind(source, operation, outcome));
        _last = _kinds.Count - 1;
        events.Publish(new RecordHandled(source, operation, outcome));
    }

    /// <summary>Publishes what was counted since the last time.</summary>
    public void Publish()
    {
        foreach (var kind in _kinds)
        {
            if (kind.Pending > 0)
            {
                events.Publish(new RecordHandled(kind.Source, kind.Operation, kind.Outcome, kind.Pending));
                kind.Pending = 0;
            }
        }

        // Kinds seen long ago (a topic no longer read) are not kept forever.
        if (_kinds.Count > MaxKinds)
        {
            _kinds.Clear();
            _last = 0;
        }
    }

    private const int MaxKinds = 256;

    private sealed class Kind(string source, string operation, string outcome)
    {
        public string Source { get; } = source;

        public string Operation { get; } = operation;

        public string Outcome { get; } = outcome;

        public long Pending { get; set; }

        public bool Is(string source, string operation, string outcome) =>
            (ReferenceEquals(source, Source) || string.Equals(source, Source, StringComparison.Ordinal))
            && (ReferenceEquals(operation, Operation) || string.Equals(operation, Operation, StringComparison.Ordinal))
            && (ReferenceEquals(outcome, Outcome) || string.Equals(outcome, Outcome, StringComparison.Ordinal));
    }
}
