using Invalidator.Core.ChangeEvents;

namespace Invalidator.Worker.Processing;

/// <summary>
/// The batch a <see cref="SourceRunner"/> is filling, as its source plans records into it, with its clock
/// (<see cref="BatchFill"/>). The batch's first record takes the live rules version
/// (<see cref="RecordIntake.UseLatestRules"/>): a reload takes effect between batches, and a batch is planned
/// with one version, whatever the source.
/// </summary>
internal sealed class OpenBatch(RecordIntake planner, BatchFill fill, int maxRecordBytes)
{
    private TransactionEnd? _transactionEnd;

    public SourceBatch Batch { get; private set; } = new();

    public BatchFill Fill => fill;

    /// <summary>Decodes a Debezium record (Kafka) and adds what it invalidates to the batch.</summary>
    public PlannedRecord Plan(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        TakeRulesIfFirst();
        return planner.Add(topic, key, value, Batch.Invalidations, maxRecordBytes);
    }

    /// <summary>Adds what a decoded change (direct mode) invalidates to the batch.</summary>
    public PlannedRecord Plan(string source, ChangeEvent change)
    {
        TakeRulesIfFirst();
        return planner.Add(source, change, Batch.Invalidations);
    }

    /// <summary>A change the source could not take whole (over a size bound): poison with the source's reason.</summary>
    public PlannedRecord Poison(string source, ChangeEvent change, string reason)
    {
        TakeRulesIfFirst();
        return planner.Poison(source, change, reason);
    }

    /// <summary>A record the source could not even decode (a deserializer that threw, an unreadable message): poison with the reason.</summary>
    public PlannedRecord Poison(string source, string reason)
    {
        TakeRulesIfFirst();
        return planner.Poison(source, reason);
    }

    /// <summary>Counts a planned record in the batch: its position, and its dead letter if it is poison.</summary>
    internal void Add(in SourceRead read)
    {
        if (read.Poison is { } poison)
        {
            Batch.AddPoison(poison);
        }

        Batch.Track(read.Partition.Source, read.Partition.Partition, read.Position, read.NextPosition, read.CommitTime);
        fill.Added();
    }

    /// <summary>The direct source planned a change of a transaction whose commit it has not read yet.</summary>
    public void ChangeInTransaction() => Batch.ChangeInTransaction();

    /// <summary>
    /// The direct source read a commit ending at <paramref name="endLsn"/>: the open batch and the batches cut inside
    /// that transaction know their replica position now.
    /// </summary>
    public void TransactionEnded(ulong endLsn)
    {
        Batch.TransactionEnded(endLsn);
        _transactionEnd?.Committed(endLsn);
        _transactionEnd = null;
    }

    /// <summary>The session ended inside a transaction: the batches cut inside it fall back to the primary's position.</summary>
    public void TransactionLost()
    {
        _transactionEnd?.Lost();
        _transactionEnd = null;
    }

    /// <summary>Hands the batch over and starts <paramref name="next"/> (empty) in its place.</summary>
    internal SourceBatch Cut(SourceBatch next)
    {
        var cut = Batch;
        if (cut.InOpenTransaction)
        {
            cut.AwaitTransactionEnd(_transactionEnd ??= new TransactionEnd());
        }

        Batch = next;
        fill.Reset();
        planner.PublishCounts();
        return cut;
    }

    /// <summary>Forgets the batch: nothing in it will be acknowledged (a session lost, a shutdown).</summary>
    internal void Discard()
    {
        TransactionLost();
        Batch.Reset();
        fill.Reset();
        planner.PublishCounts();
    }

    private void TakeRulesIfFirst()
    {
        if (Batch.RecordCount == 0)
        {
            planner.UseLatestRules();
        }
    }
}
