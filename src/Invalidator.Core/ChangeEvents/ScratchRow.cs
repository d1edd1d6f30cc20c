using System.Text;
using System.Text.Json;

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

    // (start << 32 | length) of every name of the row being read, to find a repeated one.
    private readonly long[] _names = new long[MaxColumns];
    private int _nameCount;

    /// <summary>The most columns a row may have to be read here; a wider one is left to the full decode.</summary>
    public const int MaxColumns = 128;

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

    /// <summary>A row object starts.</summary>
    public void Begin()
    {
        HasRow = true;
        _nameCount = 0;
    }

    /// <summary>
    /// The index of the kept column whose name the reader is on, with its name; <see cref="RowImageReader.Unkept"/> for a
    /// column the rules do not use. <see cref="RowImageReader.Declined"/> for what only the full read handles exactly: an
    /// escaped or repeated name (which it reports), more than <see cref="MaxColumns"/> columns.
    /// </summary>
    public int Column(ref Utf8JsonReader reader, ReadOnlySpan<byte> rowJson, out string? name)
    {
        name = null;
        if (reader.ValueIsEscaped || _nameCount == MaxColumns)
        {
            return RowImageReader.Declined;
        }

        var utf8 = reader.ValueSpan;
        for (var i = 0; i < _nameCount; i++)
        {
            if ((int)_names[i] == utf8.Length && rowJson.Slice((int)(_names[i] >> 32), utf8.Length).SequenceEqual(utf8))
            {
                return RowImageReader.Declined;
            }
        }

        _names[_nameCount++] = ((reader.TokenStartIndex + 1) << 32) | (uint)utf8.Length;
        var index = IndexOf(utf8);
        if (index < 0)
        {
            return RowImageReader.Unkept;
        }

        name = _columns[index];
        return index;
    }

    /// <summary>The index of a kept column whose UTF-8 name is <paramref name="name"/>; -1 when the rules do not use it.</summary>
    private int IndexOf(ReadOnlySpan<byte> name)
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
