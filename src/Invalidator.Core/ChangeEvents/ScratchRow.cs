using System.Text;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// A row image the worker's decode-and-plan path reads into and reuses for every record: only the columns the
/// table's rules use, with their canonical text in a char buffer of its own, so reading a row allocates nothing.
/// Not thread-safe; valid until it is read again.
/// </summary>
internal sealed class ScratchRow : IRowValues
{
    private string[] _columns = [];
    private ColumnValueKind[] _kinds = new ColumnValueKind[8];
    private int[] _starts = new int[8];
    private int[] _lengths = new int[8];
    private bool[] _present = new bool[8];
    private char[] _text = new char[256];
    private int _used;

    /// <summary>The columns this row keeps (the table's used columns, in a fixed order), as UTF-8 for comparing names.</summary>
    public IReadOnlyList<byte[]> Utf8Names { get; private set; } = [];

    /// <summary>Whether any column was read (a row object, even an empty one, was present).</summary>
    public bool HasRow { get; private set; }

    /// <summary>Starts a new row that keeps <paramref name="columns"/>.</summary>
    public void Reset(string[] columns, IReadOnlyList<byte[]> utf8Names)
    {
        _columns = columns;
        Utf8Names = utf8Names;
        if (_kinds.Length < columns.Length)
        {
            var size = Math.Max(columns.Length, _kinds.Length * 2);
            _kinds = new ColumnValueKind[size];
            _starts = new int[size];
            _lengths = new int[size];
            _present = new bool[size];
        }

        Array.Clear(_present, 0, columns.Length);
        _used = 0;
        HasRow = false;
    }

    public void MarkRow() => HasRow = true;

    /// <summary>The index of a kept column whose UTF-8 name is <paramref name="name"/>; -1 when the rules do not use it.</summary>
    public int IndexOf(ReadOnlySpan<byte> name)
    {
        var names = Utf8Names;
        for (var i = 0; i < names.Count; i++)
        {
            if (name.SequenceEqual(names[i]))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The name of kept column <paramref name="index"/>.</summary>
    public string Column(int index) => _columns[index];

    /// <summary>The text of kept column <paramref name="index"/>, which must be set.</summary>
    public ReadOnlySpan<char> Text(int index) => _text.AsSpan(_starts[index], _lengths[index]);

    public void SetKind(int index, ColumnValueKind kind) => _kinds[index] = kind;

    public void Set(int index, ColumnValueKind kind) => Set(index, kind, ReadOnlySpan<char>.Empty);

    public void Set(int index, ColumnValueKind kind, ReadOnlySpan<char> text)
    {
        EnsureRoom(text.Length);
        text.CopyTo(_text.AsSpan(_used));
        Keep(index, kind, text.Length);
    }

    /// <summary>Sets a column from valid UTF-8 (the caller validated it).</summary>
    public void SetUtf8(int index, ColumnValueKind kind, ReadOnlySpan<byte> utf8)
    {
        EnsureRoom(utf8.Length); // UTF-16 never needs more units than UTF-8 has bytes
        var written = Encoding.UTF8.GetChars(utf8, _text.AsSpan(_used));
        Keep(index, kind, written);
    }

    public bool Contains(string column) => Find(column) >= 0;

    public bool TryGetText(string column, out ColumnValueKind kind, out ReadOnlySpan<char> text)
    {
        var i = Find(column);
        if (i < 0)
        {
            kind = default;
            text = default;
            return false;
        }

        kind = _kinds[i];
        text = _text.AsSpan(_starts[i], _lengths[i]);
        return true;
    }

    private int Find(string column)
    {
        for (var i = 0; i < _columns.Length; i++)
        {
            if (_present[i] && string.Equals(_columns[i], column, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    private void Keep(int index, ColumnValueKind kind, int length)
    {
        _kinds[index] = kind;
        _starts[index] = _used;
        _lengths[index] = length;
        _present[index] = true;
        _used += length;
    }

    private void EnsureRoom(int length)
    {
        if (_used + length > _text.Length)
        {
            Array.Resize(ref _text, Math.Max(_text.Length * 2, _used + length));
        }
    }
}
