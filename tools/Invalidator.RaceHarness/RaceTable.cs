namespace Invalidator.RaceHarness;

/// <summary>The race's schema and rules: <c>race_items(id, version)</c> cached as <c>item:{id}</c> holding the version.</summary>
public static class RaceTable
{
    public const string ItemKeyStart = "item:";

    /// <summary>Creates the tables with their rows and a publication for them (run before the worker creates its slot).</summary>
    public static string Schema(string publication, int rows) => $"""
        CREATE TABLE race_items (id int PRIMARY KEY, version bigint NOT NULL);
        INSERT INTO race_items SELECT g, 0 FROM generate_series(1, {rows}) AS g;
        CREATE TABLE race_marker (id int PRIMARY KEY, n bigint NOT NULL);
        INSERT INTO race_marker VALUES (1, 0);
        CREATE PUBLICATION {publication} FOR TABLE race_items, race_marker;
        """;

    /// <summary>The rules file: the items' key, plus the mode's own fields (race_marker has no rule: it only moves the slot).</summary>
    public static string Rules(RaceMode mode)
    {
        ArgumentNullException.ThrowIfNull(mode);
        var fields = string.Concat(mode.RuleFields.Select(f => $"\n    {f}"));
        return $$"""
            tables:
              public.race_items:
                keys: ["{{ItemKeyStart}}{id}"]{{fields}}

            """;
    }

    public static string Key(int id) => ItemKeyStart + id.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
