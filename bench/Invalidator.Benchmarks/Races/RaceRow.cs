using System.Globalization;

namespace Invalidator.Benchmarks.Races;

/// <summary>
/// One line of <c>bench race</c>'s one table: a race, the defence run against it, the stale keys it left, and what
/// the defence cost. Cells a race does not have (populates in the failover race) are null and print as "n/a".
/// </summary>
/// <param name="Race">set-after-delete, failover or replica lag.</param>
/// <param name="Defence">The defence (or "none", the control).</param>
/// <param name="Elapsed">How long the writes (and reads) ran.</param>
/// <param name="RowUpdates">Row updates committed.</param>
/// <param name="Populates">Populates readers attempted (stored or refused).</param>
/// <param name="StaleKeys">Keys holding an older version than their row once the worker had applied every change.</param>
/// <param name="CachedKeys">Keys cached at the end, of <paramref name="Rows"/>.</param>
/// <param name="Rows">Rows compared.</param>
/// <param name="ExtraDeletes">What the defence deleted on top of the first delete (or resent).</param>
/// <param name="Waits">What the defence (or its readers) waited for.</param>
/// <param name="RefusedPopulates">Populates a lease refused.</param>
internal sealed record RaceRow(
    string Race,
    string Defence,
    TimeSpan Elapsed,
    long RowUpdates,
    long? Populates,
    long StaleKeys,
    long CachedKeys,
    long Rows,
    string ExtraDeletes,
    string Waits,
    long? RefusedPopulates)
{
    /// <summary>What else the run saw (the failover race: the keys back before the redrive).</summary>
    public string Note { get; init; } = "";

    public const string TableHeader = """
        | race | defence | run | row updates | populates | **stale keys** | cached keys | extra deletes | waits | refused populates | note |
        |---|---|---|---|---|---|---|---|---|---|---|
        """;

    public string TableRow() => string.Create(CultureInfo.InvariantCulture,
        $"| {Race} | {Defence} | {Elapsed.TotalSeconds:0.0} s | {RowUpdates:N0} | {N(Populates)} | **{StaleKeys:N0}** | {CachedKeys:N0} of {Rows:N0} | {ExtraDeletes} | {Waits} | {N(RefusedPopulates)} | {Note} |");

    public static string N(long? value) => value?.ToString("N0", CultureInfo.InvariantCulture) ?? "n/a";

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Race} / {Defence}: {StaleKeys} stale of {CachedKeys} cached keys ({Rows} rows) after {Elapsed.TotalSeconds:0.0} s; {RowUpdates} row updates, " +
        $"populates {N(Populates)}, refused {N(RefusedPopulates)}; extra deletes: {ExtraDeletes}; waits: {Waits}{(Note.Length == 0 ? "" : "; " + Note)}");
}
