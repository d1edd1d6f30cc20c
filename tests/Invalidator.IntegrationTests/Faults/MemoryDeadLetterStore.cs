using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Invalidator.Worker.DeadLetters;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>A dead-letter store in memory, for redrive tests that need letters in a given order (the real stores are tested on their servers).</summary>
internal sealed class MemoryDeadLetterStore : IDeadLetterWriter, IRedriveReader, IDeadLetterReader
{
    private readonly Lock _lock = new();
    private readonly List<(long Id, string Kind, RegionDeadLetter Letter, bool Redriven)> _letters = [];
    private readonly ConcurrentDictionary<string, long> _cursors = new(StringComparer.OrdinalIgnoreCase);
    private long _nextId;

    public string Name => "memory";

    public IReadOnlyList<RegionDeadLetter> Poison => Letters(DeadLetterKinds.Poison);

    public IReadOnlyList<RegionDeadLetter> Pending
    {
        get
        {
            lock (_lock)
            {
                return _letters.Where(l => l.Kind == DeadLetterKinds.Region && !l.Redriven).Select(l => l.Letter).ToList();
            }
        }
    }

    public Task WritePoisonAsync(PoisonRecord poison, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task WriteRegionLetterAsync(RegionDeadLetter letter, CancellationToken cancellationToken) => Add(DeadLetterKinds.Region, letter);

    public Task WriteRegionPoisonAsync(RegionDeadLetter letter, CancellationToken cancellationToken) => Add(DeadLetterKinds.Poison, letter);

    public Task<IReadOnlyList<PendingRegionLetter>> ReadPendingAsync(string region, int limit, CancellationToken cancellationToken)
    {
        var cursor = _cursors.GetValueOrDefault(region);
        List<PendingRegionLetter> pending;
        lock (_lock)
        {
            pending = _letters
                .Where(l => l.Kind == DeadLetterKinds.Region && !l.Redriven && l.Id > cursor && string.Equals(l.Letter.Region, region, StringComparison.OrdinalIgnoreCase))
                .Take(limit)
                .Select(l => new PendingRegionLetter(region, l.Letter, $"memory id {l.Id}", 0, l.Id))
                .ToList();
        }

        if (pending.Count > 0)
        {
            _cursors[region] = pending[^1].Position;
        }

        return Task.FromResult<IReadOnlyList<PendingRegionLetter>>(pending);
    }

    public Task MarkRedrivenAsync(PendingRegionLetter letter, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var index = _letters.FindIndex(l => l.Id == letter.Position);
            _letters[index] = _letters[index] with { Redriven = true };
        }

        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<StoredDeadLetter> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        List<(long Id, string Kind, RegionDeadLetter Letter, bool Redriven)> letters;
        lock (_lock)
        {
            letters = [.. _letters];
        }

        foreach (var (id, kind, letter, _) in letters)
        {
            await Task.Yield();
            yield return new StoredDeadLetter(kind, letter.Reason, $"memory id {id}", kind == DeadLetterKinds.Poison ? new RegionNamesContent(letter) : null, "memory");
        }
    }

    private IReadOnlyList<RegionDeadLetter> Letters(string kind)
    {
        lock (_lock)
        {
            return _letters.Where(l => l.Kind == kind).Select(l => l.Letter).ToList();
        }
    }

    private Task Add(string kind, RegionDeadLetter letter)
    {
        lock (_lock)
        {
            _letters.Add((++_nextId, kind, letter, false));
        }

        return Task.CompletedTask;
    }
}
