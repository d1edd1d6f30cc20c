namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// One image of a row (before, after, or the record key): column name to canonical value.
/// A column that is absent from the image is "missing", which differs from SQL NULL.
/// </summary>
/// <remarks>
/// Rows are small and each is read a few times, so the columns are kept in two arrays and looked up by a linear
/// ordinal search: cheaper to build and to read than a dictionary. Wide rows get a dictionary as well.
/// </remarks>
public sealed class RowImage : IRowValues
{
    private const int LinearLimit = 16;

    private readonly string[] _names;
    private readonly ColumnValue[] _values;
    private Dictionary<string, ColumnValue>? _dictionary;

    /// <exception cref="ArgumentException">A column appears twice.</exception>
    public RowImage(IEnumerable<KeyValuePair<string, ColumnValue>> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        var list = columns as IReadOnlyCollection<KeyValuePair<string, ColumnValue>> ?? [.. columns];
        _names = new string[list.Count];
        _values = new ColumnValue[list.Count];
        var i = 0;
        foreach (var (name, value) in list)
        {
            _names[i] = name;
            _values[i++] = value;
        }

        if (_names.Length > LinearLimit)
        {
            // Throws for a repeated column, as a dictionary does.
            _dictionary = new Dictionary<string, ColumnValue>(list, StringComparer.Ordinal);
            return;
        }

        for (var a = 1; a < _names.Length; a++)
        {
            for (var b = 0; b < a; b++)
            {
                if (string.Equals(_names[a], _names[b], StringComparison.Ordinal))
                {
                    _ = new Dictionary<string, ColumnValue>(list, StringComparer.Ordinal); // the dictionary's own message
                }
            }
        }
    }

    public static RowImage Empty { get; } = new([]);

    public int Count => _names.Length;

    /// <summary>The columns in the order the source sent them.</summary>
    public IEnumerable<string> ColumnNames => _names;

    public bool TryGet(string column, out ColumnValue value)
    {
        if (_dictionary is not null)
        {
            return _dictionary.TryGetValue(column, out value);
        }

        var i = IndexOf(column);
        value = i < 0 ? default : _values[i];
        return i >= 0;
    }

    public bool Contains(string column) => _dictionary?.ContainsKey(column) ?? IndexOf(column) >= 0;

    public IReadOnlyDictionary<string, ColumnValue> Columns =>
        _dictionary ??= new Dictionary<string, ColumnValue>(_names.Zip(_values, KeyValuePair.Create), StringComparer.Ordinal);

    bool IRowValues.TryGetText(string column, out ColumnValueKind kind, out ReadOnlySpan<char> text)
    {
        if (!TryGet(column, out var value))
        {
            kind = default;
            text = default;
            return false;
        }

        kind = value.Kind;
        text = value.Text;
        return true;
    }

    private int IndexOf(string column)
    {
        for (var i = 0; i < _names.Length; i++)
        {
            if (string.Equals(_names[i], column, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
