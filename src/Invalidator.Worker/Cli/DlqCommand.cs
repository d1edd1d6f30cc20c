using System.CommandLine;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Cli;

/// <summary><c>dlq replay</c>: re-plans poison records with the current rules and applies them.</summary>
internal static class DlqCommand
{
    public static Command Build(TextWriter output, TextWriter error)
    {
        var config = new Option<FileInfo?>("--config") { Description = "A JSON configuration file to use instead of appsettings.json." };
        var region = new Option<string?>("--region") { Description = "Apply only in this region (default: every region)." };
        var reason = new Option<string?>("--reason") { Description = "Only records whose reason contains this text." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Re-plan and count, but delete nothing." };
        var replay = new Command("replay", "Re-plan dead-lettered poison records with the current rules (after a rules fix) and apply them.")
        {
            config, region, reason, dryRun,
        };
        replay.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                using var host = InvalidatorHost.CreateBuilder([], parse.GetValue(config)?.FullName).Build();
                var services = host.Services;
                var options = services.GetRequiredService<IOptions<InvalidatorOptions>>().Value;
                // The selected source's store: the topic in Kafka mode, the table in direct mode.
                var replay = new DeadLetterReapply(
                    services.GetRequiredService<IDeadLetterReader>(), services.GetRequiredService<RecordIntake>(), services.GetRequiredService<RegionSet>(), options.DeadLetter.MaxRecordBytes);
                var report = await replay.RunAsync(parse.GetValue(region), parse.GetValue(reason), parse.GetValue(dryRun), error, cancellationToken).ConfigureAwait(false);
                await output.WriteLineAsync(report.ToString()).ConfigureAwait(false);
                return report.Failures.Count == 0 ? 0 : 1;
            }
            catch (Exception ex) when (ex is OptionsValidationException or ArgumentException or Core.Rules.RulesException or Confluent.Kafka.KafkaException or Npgsql.NpgsqlException or TimeoutException)
            {
                await error.WriteLineAsync($"dlq replay failed: {ex.Message}").ConfigureAwait(false);
                return 2;
            }
        });
        return new Command("dlq", "Work with the dead-letter store (the topic, or in direct mode the table).") { replay };
    }
}
