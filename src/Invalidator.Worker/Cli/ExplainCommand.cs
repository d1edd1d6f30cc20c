using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.Worker.RulesReload;

namespace Invalidator.Worker.Cli;

/// <summary>
/// <c>explain --rules F --record R</c>: what one record invalidates, as one JSON object on stdout.
/// The record file has the fixtures' shape <c>{"topic": ..., "key": ..., "value": ...}</c>.
/// </summary>
internal static class ExplainCommand
{
    public static Command Build(TextWriter output, TextWriter error)
    {
        var rules = new Option<FileInfo>("--rules") { Description = "The rules file (YAML).", Required = true };
        var record = new Option<FileInfo>("--record") { Description = "A JSON file {\"topic\", \"key\", \"value\"} holding one Kafka record.", Required = true };
        var command = new Command("explain", "Show the keys and tags one record invalidates (names before any region prefix).") { rules, record };
        command.SetAction(parse =>
        {
            try
            {
                // The worker's loader (one source of truth): the same file gives the same rules and the same version.
                var loaded = LoadedRules.Load(parse.GetValue(rules)!.FullName, DateTimeOffset.UtcNow);
                var (_, topic, key, value) = RecordFiles.ReadOne(parse.GetValue(record)!.FullName);
                // The worker's decoding: the rules' hints (format, decimals, replica identity) apply here too.
                var decoded = new DebeziumDecoder().Decode(topic, key, value, loaded.Rules.DecoderHints);
                InvalidationPlan? plan;
                try
                {
                    plan = decoded.Change is { } change ? loaded.Planner.Plan(change) : null;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // As the worker does: a rule that cannot be evaluated makes the record poison, with this reason.
                    error.WriteLine($"Cannot plan the record: the rules for {decoded.Change!.Table} could not be evaluated ({OneLine(ex)})");
                    return 1;
                }

                output.WriteLine(Render(topic, decoded, plan, loaded));
                return 0;
            }
            catch (RulesException ex)
            {
                error.WriteLine(ex.Message);
                return 2;
            }
            catch (Exception ex) when (ex is ChangeEventFormatException or JsonException or IOException or UnauthorizedAccessException)
            {
                // One line: a JSON error quotes the text it met, line breaks and all.
                error.WriteLine($"Cannot decode the record: {ex.Message.ReplaceLineEndings(" ")}");
                return 1;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Whatever the input, a clear line and exit 1, never a stack trace.
                error.WriteLine($"Cannot explain the record: {OneLine(ex)}");
                return 1;
            }
        });
        return command;
    }

    private static string OneLine(Exception ex) => $"{ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}";

    private static string Render(string topic, DecodedRecord decoded, InvalidationPlan? plan, LoadedRules rules)
    {
        var change = decoded.Change;
        // A shadow rule's keys are what the worker would count, not delete.
        var rule = change is not null && rules.Rules.TryGetRule(change.Table, out var found) ? found : null;
        var explained = new ExplainJson(
            topic,
            decoded.Kind.ToString(),
            change?.Table,
            change?.Operation.ToCode(),
            change?.CommitTime,
            // Only when set: a delete shaped like REPLICA IDENTITY DEFAULT's, which the worker counts and logs (event 8020).
            change?.SuspectDefaultIdentity == true ? true : null,
            plan?.Outcome.ToString() ?? "NothingToInvalidate",
            rule?.Shadow ?? false,
            // What the rule adds to the deletes: lease keys, and a second delete (null: the worker's global delay applies).
            rule?.Leases ?? false,
            rule?.SecondDelete is { } delay ? RuleDuration.Format(delay) : null,
            rules.Version,
            Sorted(plan?.Keys ?? []),
            Sorted(plan?.Tags ?? []),
            (plan?.Unresolved ?? []).Select(u => new ExplainUnresolvedJson(u.Template, u.Image, u.Column, u.Failure.ToString(), u.Reason)).ToList());
        return JsonSerializer.Serialize(explained, ReportJsonContext.Default.ExplainJson);
    }

    private static List<string> Sorted(IEnumerable<string> values) => values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
}

/// <summary>
/// <c>explain</c>'s answer. The change's fields are left out for a record that is no change; <see cref="SuspectDefaultIdentity"/>
/// is there only when true.
/// </summary>
internal sealed record ExplainJson(
    string Topic,
    string Kind,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Table,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Op,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? CommitTime,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] bool? SuspectDefaultIdentity,
    string Outcome,
    bool Shadow,
    bool Leases,
    string? SecondDelete,
    string RulesVersion,
    IReadOnlyList<string> Keys,
    IReadOnlyList<string> Tags,
    IReadOnlyList<ExplainUnresolvedJson> Unresolved);

/// <summary>A template no image rendered, and why.</summary>
internal sealed record ExplainUnresolvedJson(string Template, string Image, string Column, string Failure, string Reason);
