namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// The table of each topic's last row change: the guess the worker's one-pass read reads the next record's rows for,
/// while the envelope's scan passes over them (Debezium writes them before the source block that names the table).
/// A wrong guess costs only the second read it saves. Owned by a <see cref="DebeziumDecoder"/>; not thread-safe.
/// </summary>
internal sealed class TopicTables
{
    private const int MaxTopics = 4096;

    private readonly Dictionary<string, TableDecodingHints> _tables = new(StringComparer.Ordinal);
    private string? _lastTopic;
    private TableDecodingHints? _lastTable;

    /// <summary>The hints of the table the topic's last row change had; null when none is known.</summary>
    public TableDecodingHints? Guess(string topic)
    {
        if (!ReferenceEquals(topic, _lastTopic) && !string.Equals(topic, _lastTopic, StringComparison.Ordinal))
        {
            _lastTopic = topic;
            _lastTable = _tables.GetValueOrDefault(topic);
        }

        return _lastTable;
    }

    /// <summary>The topic's record was a change of <paramref name="table"/> (null: of no table with a rule, and nothing is learnt).</summary>
    public void Learn(string topic, TableDecodingHints? table)
    {
        if (table is null || (ReferenceEquals(table, _lastTable) && string.Equals(topic, _lastTopic, StringComparison.Ordinal)))
        {
            return;
        }

        if (_tables.Count >= MaxTopics)
        {
            _tables.Clear();
        }

        _tables[topic] = table;
        _lastTopic = topic;
        _lastTable = table;
    }
}
