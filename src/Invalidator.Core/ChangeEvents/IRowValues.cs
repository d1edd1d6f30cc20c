namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// What rendering a key and comparing images need of a row: whether it has a column, and the column's kind and
/// canonical text. A <see cref="RowImage"/> is one; the worker's decode-and-plan path reads into reusable rows
/// (<see cref="ScratchRow"/>) that never become strings.
/// </summary>
internal interface IRowValues
{
    bool Contains(string column);

    /// <summary>False when the row has no such column; otherwise its kind and its text (empty unless present or undecodable).</summary>
    bool TryGetText(string column, out ColumnValueKind kind, out ReadOnlySpan<char> text);
}
