using System.CommandLine;
using System.Text;
using System.Text.Json;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.Worker.Rules;

namespace Invalidator.Worker.Cli;

/// <summary>
/// <c>explain --rules F --record R</c>: what one record invalidates, as one JSON object on stdout.
/// The record file has the fixtures' shape <c>{"topic": ..., "key": ..., "value": ...}</c>.
/// </summary>
internal static class ExplainCommand
{
    private static readonly JsonWriterOptions Indented = new() { Indented = true };

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
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, Indented))
        {
            json.WriteStartObject();
            json.WriteString("topic", topic);
            json.WriteString("kind", decoded.Kind.ToString());
            if (decoded.Change is { } change)
            {
                json.WriteString("table", change.Table);
                json.WriteString("op", change.Operation.ToCode());
                if (change.CommitTime is { } committed)
                {
                    json.WriteString("commitTime", committed);
                }

                // Only when set: a delete shaped like REPLICA IDENTITY DEFAULT's, which the worker counts and logs (event 8020).
                if (change.SuspectDefaultIdentity)
                {
                    json.WriteBoolean("suspectDefaultIdentity", true);
                }
            }

            json.WriteString("outcome", plan?.Outcome.ToString() ?? "NothingToInvalidate");
            // A shadow rule's keys are what the worker would count, not delete.
            var rule = decoded.Change is { } planned && rules.Rules.TryGetRule(planned.Table, out var found) ? found : null;
            json.WriteBoolean("shadow", rule?.Shadow ?? false);
            // What the rule adds to the deletes: lease keys, and a second delete (null: the worker's global delay applies).
            json.WriteBoolean("leases", rule?.Leases ?? false);
            if (rule?.SecondDelete is { } delay)
            {
                json.WriteString("secondDelete", RuleDuration.Format(delay));
            }
            else
            {
                json.WriteNull("secondDelete");
            }

            json.WriteString("rulesVersion", rules.Version);
            WriteSorted(json, "keys", plan?.Keys ?? []);
            WriteSorted(json, "tags", plan?.Tags ?? []);
            json.WriteStartArray("unresolved");
            foreach (var unresolved in plan?.Unresolved ?? [])
            {
                json.WriteStartObject();
                json.WriteString("template", unresolved.Template);
                json.WriteString("image", unresolved.Image);
                json.WriteString("column", unresolved.Column);
                json.WriteString("failure", unresolved.Failure.ToString());
                json.WriteString("reason", unresolved.Reason);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteSorted(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }
}
