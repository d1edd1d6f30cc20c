namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// A row change, whatever source it came from (Debezium over Kafka, or Postgres replication directly).
/// </summary>
/// <param name="Table">Schema-qualified table, <c>schema.table</c> (for example <c>public.customers</c>).</param>
/// <param name="Operation">What happened.</param>
/// <param name="Before">The row before the change; null when the source did not send it.</param>
/// <param name="After">The row after the change; null for deletes and truncates.</param>
/// <param name="Key">The primary-key columns from the record key; null when absent.</param>
/// <param name="CommitTime">When the database committed the change (<c>source.ts_us</c>/<c>ts_ms</c>), when known.</param>
public sealed record ChangeEvent(
    string Table,
    ChangeOperation Operation,
    RowImage? Before,
    RowImage? After,
    RowImage? Key,
    DateTimeOffset? CommitTime)
{
    /// <summary>Logical-message prefix for <see cref="ChangeOperation.Message"/> events.</summary>
    public string? MessagePrefix { get; init; }

    /// <summary>Logical-message content (decoded text when it is UTF-8) for <see cref="ChangeOperation.Message"/>.</summary>
    public string? MessageContent { get; init; }

    /// <summary>
    /// A Debezium delete of a table whose rule does not state <c>replicaIdentity</c>, whose before image holds the record
    /// key's columns and only type defaults besides (<c>0</c>, <c>""</c>, <c>false</c>, null, the epoch): the shape of
    /// REPLICA IDENTITY DEFAULT, under which keys rendered from the other columns are wrong. See <see cref="DefaultIdentityShape"/>.
    /// </summary>
    public bool SuspectDefaultIdentity { get; init; }
}
