using System.Text;
using System.Text.Json;

namespace Invalidator.Core.ChangeEvents;

/// <summary>Where <see cref="RowImageReader"/> puts a row's columns.</summary>
internal interface IRowSink
{
    /// <summary>A row object starts.</summary>
    void Begin();

    /// <summary>
    /// The slot of the column whose name <paramref name="reader"/> is on, with the column's name; <see cref="RowImageReader.Unkept"/>
    /// (and a null name) for a column the sink does not keep, <see cref="RowImageReader.Declined"/> for one it cannot read exactly.
    /// </summary>
    int Column(ref Utf8JsonReader reader, ReadOnlySpan<byte> rowJson, out string? name);

    /// <summary>The column's value (<paramref name="text"/> null unless present or undecodable).</summary>
    void Set(int slot, ColumnValueKind kind, string? text);

    /// <summary>The column's value from valid UTF-8.</summary>
    void SetUtf8(int slot, ColumnValueKind kind, ReadOnlySpan<byte> utf8);

    /// <summary>The row object ended.</summary>
    void End();
}

/// <summary>The full decode's rows: every column, in the order sent, into a <see cref="RowImage"/>.</summary>
internal struct RowImageBuilder(List<KeyValuePair<string, ColumnValue>> columns, NameCache names) : IRowSink
{
    private string _column = "";

    /// <summary>The row read; null until <see cref="End"/>.</summary>
    public RowImage? Image { get; private set; }

    public readonly void Begin() => columns.Clear();

    public int Column(ref Utf8JsonReader reader, ReadOnlySpan<byte> rowJson, out string? name)
    {
        name = _column = names.Get(ref reader);
        return columns.Count;
    }

    public readonly void Set(int slot, ColumnValueKind kind, string? text) => columns.Add(new(_column, new ColumnValue(kind, text)));

    public readonly void SetUtf8(int slot, ColumnValueKind kind, ReadOnlySpan<byte> utf8) =>
        columns.Add(new(_column, new ColumnValue(kind, Encoding.UTF8.GetString(utf8))));

    /// <summary>Throws <see cref="ArgumentException"/> for a column sent twice.</summary>
    public void End()
    {
        Image = new RowImage(columns);
        columns.Clear();
    }
}

/// <summary>The worker's one-pass rows: only the columns the rules use, into a reusable <see cref="ScratchRow"/>.</summary>
internal readonly struct ScratchRowSink(ScratchRow row) : IRowSink
{
    public void Begin() => row.Begin();

    public int Column(ref Utf8JsonReader reader, ReadOnlySpan<byte> rowJson, out string? name) => row.Column(ref reader, rowJson, out name);

    public void Set(int slot, ColumnValueKind kind, string? text)
    {
        if (slot >= 0)
        {
            row.Set(slot, kind, text);
        }
    }

    public void SetUtf8(int slot, ColumnValueKind kind, ReadOnlySpan<byte> utf8)
    {
        if (slot >= 0)
        {
            row.SetUtf8(slot, kind, utf8);
        }
    }

    public void End()
    {
    }
}
