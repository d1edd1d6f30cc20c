using System.CommandLine;
using Invalidator.Core.Rules;
using Invalidator.Worker.Consistency;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Cli;

/// <summary><c>run</c>: the worker. Start-up errors print what to fix, without a stack trace, and exit 2.</summary>
internal static class RunCommand
{
    public static Command Build(TextWriter error)
    {
        var config = new Option<FileInfo?>("--config") { Description = "A JSON configuration file to use instead of appsettings.json." };
        var command = new Command("run", "Run the worker (the default command).") { config };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var configFile = parse.GetValue(config);
            return await RunAsync(parse.UnmatchedTokens.ToArray(), configFile?.FullName, error, cancellationToken).ConfigureAwait(false);
        });
        command.TreatUnmatchedTokensAsErrors = false;
        return command;
    }

    private static async Task<int> RunAsync(string[] args, string? configFile, TextWriter error, CancellationToken cancellationToken)
    {
        try
        {
            using var host = InvalidatorHost.CreateBuilder(args, configFile).Build();
            // Validate the configuration and load the rules before the host starts: a failure inside
            // StartAsync is logged by the host with its full stack trace, which buries the one line to fix.
            _ = host.Services.GetRequiredService<IOptions<InvalidatorOptions>>().Value;
            _ = host.Services.GetRequiredService<RuleSet>();
            // The read replicas too: a misconfigured one stops the start here, with what to fix.
            await host.Services.GetRequiredService<ReplicaStartupChecks>().RunAsync().ConfigureAwait(false);
            // Taken before the run: RunAsync disposes the host's services when it returns.
            var exit = host.Services.GetRequiredService<WorkerExit>();
            await host.RunAsync(cancellationToken).ConfigureAwait(false);
            if (exit.Code != 0)
            {
                await error.WriteLineAsync($"The worker stopped: {exit.Reason}").ConfigureAwait(false);
            }

            return exit.Code;
        }
        catch (Exception ex) when (StartupErrors.IsStartupError(ex))
        {
            await StartupErrors.WriteAsync(ex, error).ConfigureAwait(false);
            return ExitCodes.ConfigurationError;
        }
        catch (InvalidOperationException ex) when (ex.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
        {
            // The binder names the key ("... at 'Invalidator:Batching:MaxRecords' to type 'System.Int32'").
            // Durations in settings are TimeSpans, unlike the rules file's '800ms': say how to write one.
            var hint = ex.Message.Contains("to type 'System.TimeSpan'", StringComparison.Ordinal)
                ? " Write a duration as hh:mm:ss.fff, for example 00:00:00.800 for 800 ms."
                : "";
            await error.WriteLineAsync($"Invalid configuration: {ex.Message}{hint}").ConfigureAwait(false);
            return ExitCodes.ConfigurationError;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Already logged in full by the part that failed; the console gets the one line that matters.
            await error.WriteLineAsync($"The worker stopped: {ex.GetBaseException().Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }
}
