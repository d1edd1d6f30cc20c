using System.Collections.Concurrent;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// The table of each topic's last row change: the guess the worker's one-pass read reads the next record's rows for,
/// while the envelope's scan passes over them (Debezium writes them before the source block that names the table).
/// A wrong guess costs only the second read it saves. Owned by a <see cref="DebeziumDecoder"/>. Thread-safe like the
/// decoder's other caches: a race only makes a guess wrong.
/// </summary>
internal sealed class TopicTables
{
    private const int MaxTopics = 4096;

    private readonly ConcurrentDictionary<string, TableDecodingHints> _tables = new(StringComparer.Ordinal);

    // The last topic asked about and its table, as one immutable entry: most records repeat the last topic.
    private Entry? _last;

    /// <summary>The hints of the table the topic's last row change had; null when none is known.</summary>
    public TableDecodingHints? Guess(string topic)
    {
        var last = Volatile.Read(ref _last);
        if (last is not null && (ReferenceEquals(topic, last.Topic) || string.Equals(topic, last.Topic, StringComparison.Ordinal)))
        {
            return last.Table;
        }

        var table = _tables.GetValueOrDefault(topic);
        Volatile.Write(ref _last, new Entry(topic, table));
        return table;
    }

    /// <summary>The topic's record was a change of <paramref name="table"/> (null: of no table with a rule, and nothing is learnt).</summary>
    public void Learn(string topic, TableDecodingHints? table)
    {
        var last = Volatile.Read(ref _last);
        if (table is null || (last is not null && ReferenceEquals(table, last.Table) && string.Equals(topic, last.Topic, StringComparison.Ordinal)))
        {
            return;
        }

        if (_tables.Count >= MaxTopics)
        {
            _tables.Clear();
        }

        _tables[topic] = table;
        Volatile.Write(ref _last, new Entry(topic, table));
    }

    private sealed record Entry(string Topic, TableDecodingHints? Table);
}
