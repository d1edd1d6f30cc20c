namespace Invalidator.Core.ChangeEvents;

/// <summary>Whether a column's value can go into a key.</summary>
public enum ColumnValueKind
{
    /// <summary>The column has a value; <see cref="ColumnValue.Text"/> is its canonical text.</summary>
    Present,

    /// <summary>The column is SQL NULL.</summary>
    Null,

    /// <summary>
    /// Debezium did not send the value (an unchanged TOAST column: <c>__debezium_unavailable_value</c>).
    /// Never rendered into a key: the real value is unknown.
    /// </summary>
    Unavailable,
}

/// <summary>One column of a row image, already rendered to the canonical text that keys are built from.</summary>
public readonly record struct ColumnValue(ColumnValueKind Kind, string? Text)
{
    public static ColumnValue Null { get; } = new(ColumnValueKind.Null, null);

    public static ColumnValue Unavailable { get; } = new(ColumnValueKind.Unavailable, null);

    public static ColumnValue Of(string text) => new(ColumnValueKind.Present, text);

    public bool IsPresent => Kind == ColumnValueKind.Present;

    public override string ToString() => Kind switch
    {
        ColumnValueKind.Present => Text!,
        ColumnValueKind.Null => "<null>",
        _ => "<unavailable>",
    };
}
