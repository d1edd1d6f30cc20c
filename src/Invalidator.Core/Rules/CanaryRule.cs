using Invalidator.Core.ChangeEvents;

namespace Invalidator.Core.Rules;

/// <summary>
/// The canary table's built-in rule. The freshness probe writes a canary <c>invalidator:canary:&lt;worker&gt;:&lt;seq&gt;</c>
/// in every region, then updates its row of the canary table; the change travels the whole path and this rule renders
/// the canary's name from the row, so the worker deletes it like any other key. Users write no rule for the table.
/// </summary>
public static class CanaryRule
{
    /// <summary>The canary table unless <c>Invalidator:Probe:Table</c> names another.</summary>
    public const string DefaultTable = "public.invalidator_canary";

    /// <summary>The reserved namespace of the canaries' names (before a region's key prefix).</summary>
    public const string Namespace = "invalidator:canary:";

    /// <summary>The rule's one key template, over the table's contract columns <c>(worker, seq, written_at)</c>.</summary>
    public const string KeyTemplateText = Namespace + "{worker}:{seq}";

    private static readonly KeyTemplate Template = KeyTemplate.Parse(KeyTemplateText);

    /// <summary>The name the rule renders from the row <c>(worker, seq)</c>.</summary>
    public static string NameOf(string worker, long seq) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Namespace}{worker}:{seq}");

    /// <summary>
    /// The rule of <paramref name="table"/>: inserts and updates render the canary from the new row. The table keeps
    /// REPLICA IDENTITY DEFAULT (an update that keeps the key sends no old row), so nothing renders from an old row.
    /// </summary>
    public static TableRule For(string table) => new()
    {
        Table = table,
        Keys = [Template],
        Ops = new HashSet<ChangeOperation> { ChangeOperation.Create, ChangeOperation.Update },
        ReplicaIdentity = ReplicaIdentity.Default,
        ReplicaIdentityStated = true,
        BuiltIn = true,
    };

    /// <summary>
    /// <paramref name="rules"/> with the canary table's rule added. A file that has a rule of its own for the table is
    /// refused: the built-in one is the contract the probe measures.
    /// </summary>
    /// <exception cref="RulesException">The file has a rule for <paramref name="table"/>.</exception>
    public static RuleSet AddTo(RuleSet rules, string table)
    {
        ArgumentNullException.ThrowIfNull(rules);
        if (rules.TryGetRule(table, out var own))
        {
            throw new RulesException([new RuleError(rules.SourcePath, own.Line, 1,
                $"table '{table}' is the canary probe's table (Invalidator:Probe:Table), whose rule is built in ('{KeyTemplateText}'): remove this entry")]);
        }

        return new RuleSet(rules.SourcePath, rules.Tables.Values.Append(For(table)));
    }
}
