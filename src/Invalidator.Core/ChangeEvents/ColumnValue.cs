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

    /// <summary>
    /// A before-image value that is not the row's: under <c>REPLICA IDENTITY DEFAULT</c> Postgres sends only the
    /// key columns of an old row, and Debezium fills the other NOT NULL columns with a placeholder (0, "", false,
    /// the epoch or the column's DEFAULT). Never rendered into a key.
    /// </summary>
    Untrusted,

    /// <summary>
    /// A value the decoder cannot turn into the column's text: a column the rules list in <c>decimals</c> that
    /// holds neither a number nor a decimal string (the base64 of <c>decimal.handling.mode=precise</c> without a
    /// schema). <see cref="ColumnValue.Text"/> keeps the raw text, so two equal values still compare equal.
    /// Never rendered into a key.
    /// </summary>
    Undecodable,
}

/// <summary>One column of a row image, already rendered to the canonical text that keys are built from.</summary>
public readonly record struct ColumnValue(ColumnValueKind Kind, string? Text)
{
    public static ColumnValue Null { get; } = new(ColumnValueKind.Null, null);

    public static ColumnValue Unavailable { get; } = new(ColumnValueKind.Unavailable, null);

    public static ColumnValue Untrusted { get; } = new(ColumnValueKind.Untrusted, null);

    public static ColumnValue Of(string text) => new(ColumnValueKind.Present, text);

    public static ColumnValue UndecodableOf(string raw) => new(ColumnValueKind.Undecodable, raw);

    public bool IsPresent => Kind == ColumnValueKind.Present;

    public override string ToString() => Kind switch
    {
        ColumnValueKind.Present => Text!,
        ColumnValueKind.Null => "<null>",
        ColumnValueKind.Untrusted => "<untrusted>",
        ColumnValueKind.Undecodable => $"<undecodable {Text}>",
        _ => "<unavailable>",
    };
}
