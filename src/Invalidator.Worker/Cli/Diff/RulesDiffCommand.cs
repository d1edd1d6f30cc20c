using System.CommandLine;
using System.Text.Json;
using Confluent.Kafka;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Configuration;

namespace Invalidator.Worker.Cli.Diff;

/// <summary>
/// <c>rules diff &lt;old.yaml&gt; &lt;new.yaml&gt; --records &lt;file|dir&gt;</c>, or <c>--topic T --sample N</c> against
/// the broker of <c>Invalidator:Kafka</c>: for each record whose keys or tags differ, the keys and tags that appear or
/// vanish, then a summary per table. Exit 0 when no record differs, 1 when some do, 2 when the diff cannot run.
/// </summary>
internal static class RulesDiffCommand
{
    public const int Differs = 1;
    public const int CannotRun = 2;
    public const int DefaultSample = 1000;

    public static Command Build(TextWriter output, TextWriter error)
    {
        var oldFile = new Argument<FileInfo>("old") { Description = "The rules file in use (YAML)." };
        var newFile = new Argument<FileInfo>("new") { Description = "The changed rules file." };
        var records = new Option<string?>("--records") { Description = "Records to compare: a file ({\"topic\",\"key\",\"value\"} objects: one, an array, or one per line in .jsonl) or a directory of such files." };
        var topic = new Option<string?>("--topic") { Description = "Instead of --records: sample this topic on the broker (Invalidator:Kafka; no consumer group is joined)." };
        var sample = new Option<int>("--sample") { Description = "With --topic: how many of its newest records to compare.", DefaultValueFactory = _ => DefaultSample };
        var config = new Option<FileInfo?>("--config") { Description = "With --topic: a JSON configuration file to use instead of appsettings.json (for Invalidator:Kafka)." };
        var json = new Option<bool>("--json") { Description = "Print the diff as JSON: stdout then holds the JSON and nothing else." };
        var diff = new Command("diff", "Show what a rules change would invalidate differently, record by record, with a summary per table. Exit 0: no difference; 1: differences; 2: error.")
        {
            oldFile, newFile, records, topic, sample, config, json,
        };
        diff.SetAction(parse =>
        {
            var oldPath = parse.GetValue(oldFile)!.FullName;
            var newPath = parse.GetValue(newFile)!.FullName;
            try
            {
                var (recordsPath, topicName) = (parse.GetValue(records), parse.GetValue(topic));
                if ((recordsPath is null) == (topicName is null))
                {
                    throw new DiffException("give either --records <file|dir> or --topic <topic> (with --sample N)");
                }

                var comparison = new RulesDiff(Load(oldPath, error), Load(newPath, error));
                var report = new DiffReport(oldPath, newPath, recordsPath is not null ? Path.GetFullPath(recordsPath) : $"the newest {parse.GetValue(sample)} of topic {topicName}");
                foreach (var record in Records(recordsPath, topicName, parse.GetValue(sample), parse.GetValue(config)?.FullName, error))
                {
                    report.Add(record, comparison.Compare(record.Topic, record.Key, record.Value));
                }

                output.WriteLine(parse.GetValue(json) ? report.ToJson() : report.ToText().TrimEnd('\n'));
                return report.Summary.Differing > 0 ? Differs : 0;
            }
            catch (RulesException)
            {
                return CannotRun; // each error already went to stderr with its file:line:column
            }
            catch (Exception ex) when (ex is DiffException or JsonException or IOException or UnauthorizedAccessException or KafkaException)
            {
                error.WriteLine($"rules diff failed: {ex.Message}");
                return CannotRun;
            }
        });
        return diff;
    }

    private static RuleSet Load(string path, TextWriter error)
    {
        try
        {
            return RulesLoader.LoadFile(path);
        }
        catch (RulesException ex)
        {
            foreach (var rule in ex.Errors)
            {
                error.WriteLine(rule.ToString());
            }

            error.WriteLine(ex.MoreErrors > 0
                ? $"{ex.TotalErrors} error(s) in {path} (only the first {ex.Errors.Count} are shown)"
                : $"{ex.TotalErrors} error(s) in {path}");
            throw;
        }
    }

    private static IEnumerable<SourceRecord> Records(string? recordsPath, string? topic, int sample, string? configFile, TextWriter error)
    {
        if (recordsPath is not null)
        {
            return File.Exists(recordsPath) || Directory.Exists(recordsPath)
                ? RecordFiles.Read(recordsPath)
                : throw new DiffException($"--records: no file or directory at {Path.GetFullPath(recordsPath)}");
        }

        if (sample < 1)
        {
            throw new DiffException($"--sample must be at least 1, not {sample}");
        }

        // The worker's configuration sources (appsettings.json or --config, then Invalidator__* variables), only for Kafka.
        var configuration = InvalidatorHost.CreateBuilder([], configFile).Configuration;
        var kafka = configuration.GetSection($"{InvalidatorOptions.SectionName}:Kafka").Get<KafkaOptions>() ?? new KafkaOptions();
        return TopicSample.Read(kafka, topic!, sample, error, CancellationToken.None);
    }
}
