using System.Globalization;
using System.Text;
using System.Text.Json;
using Invalidator.TestData;
using Xunit.Sdk;

namespace Invalidator.IntegrationTests.Cli;

/// <summary>
/// <c>explain</c> on randomly broken records (issue 17 §0): whatever the record file holds, the command exits 0 with one
/// JSON object, or exits 1 with one clear line on stderr, never a stack trace. In process, as the other explain tests.
/// </summary>
public sealed class ExplainMutatedRecordsTests : IDisposable
{
    private const int Records = 600;

    private readonly CliFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task The_issue_s_record_with_microseconds_in_ts_ms_is_explained_without_a_commit_time()
    {
        var rules = _files.Write("rules.yaml", "tables:\n  public.t:\n    keys: [\"t:{id}\"]\n");
        var record = _files.Write("record.json", """{"topic":"srv.public.t","key":null,"value":{"op":"c","after":{"id":1},"source":{"schema":"public","table":"t","ts_ms":1562202942666382}}}""");

        var result = await CliFiles.InvokeAsync("explain", "--rules", rules, "--record", record);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Empty(result.Error);
        using var json = JsonDocument.Parse(result.Output);
        Assert.Equal("t:1", Assert.Single(json.RootElement.GetProperty("keys").EnumerateArray()).GetString());
        Assert.False(json.RootElement.TryGetProperty("commitTime", out _));
    }

    [Fact]
    public async Task A_broken_record_is_explained_or_refused_in_one_clear_line_never_with_a_stack_trace()
    {
        var seed = Environment.GetEnvironmentVariable("INVALIDATOR_MUTATION_SEED") is { Length: > 0 } text
            ? int.Parse(text, CultureInfo.InvariantCulture)
            : Random.Shared.Next();
        var rules = _files.Write("rules.yaml", MutationSeeds.Rules);
        var seeds = MutationSeeds.All();
        var mutator = new RecordMutator(seed);
        var exits = new int[3];
        for (var i = 0; i < Records; i++)
        {
            var original = seeds[i % seeds.Count];
            var mutated = mutator.Mutate(original.Topic, original.Key, original.Value);
            // The broken bytes go into the file as they are: a record part that is no JSON makes a file that is none.
            var path = Path.Combine(_files.Directory, $"record-{i}.json");
            await File.WriteAllBytesAsync(path, [
                .. Encoding.UTF8.GetBytes($"{{\"topic\": {JsonSerializer.Serialize(mutated.Topic)}, \"key\": "),
                .. mutated.Key.Length == 0 ? "null"u8.ToArray() : mutated.Key,
                .. ", \"value\": "u8.ToArray(),
                .. mutated.Value.Length == 0 ? "null"u8.ToArray() : mutated.Value,
                .. "}"u8.ToArray(),
            ]);

            var result = await CliFiles.InvokeAsync("explain", "--rules", rules, "--record", path);

            var where = $"seed {seed} (INVALIDATOR_MUTATION_SEED={seed} repeats it), record {i} from {original.Name} ({mutated.Mutation}):\n{result}";
            switch (result.ExitCode)
            {
                case 0:
                    Assert.True(result.Error.Length == 0, where);
                    using (var json = JsonDocument.Parse(result.Output))
                    {
                        Assert.True(json.RootElement.TryGetProperty("outcome", out _), where);
                    }

                    break;
                case 1:
                    Assert.True(result.Output.Length == 0, where);
                    Assert.True(result.ErrorLines.Count == 1 && result.ErrorLines[0].StartsWith("Cannot ", StringComparison.Ordinal), where);
                    break;
                default:
                    throw new XunitException($"exit {result.ExitCode}: {where}");
            }

            Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
            exits[result.ExitCode]++;
            File.Delete(path);
        }

        Assert.True(exits[0] > Records / 10 && exits[1] > Records / 10, $"seed {seed}: both answers should occur ({exits[0]} explained, {exits[1]} refused)");
    }
}
