using Invalidator.Core.Rules;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Consistency;

/// <summary>
/// The read replicas' start-up checks (<see cref="ReplicaChecks"/>), before any source starts. A misconfiguration (not a
/// standby, a refused login or database, a bad connection string) stops the start with what to fix, as a bad key does.
/// A replica that merely does not answer is a warning and the worker starts: a replica down for maintenance must not
/// stop the invalidation of the primary's readers, and its waits end at <c>ReplicaWaitMax</c>, counted, until it is back.
/// <c>run</c> calls <see cref="RunAsync"/> before the host starts (its errors then print without a stack trace); as a
/// hosted service it also runs for hosts started otherwise, once.
/// </summary>
internal sealed class ReplicaStartupChecks(IOptions<InvalidatorOptions> options, RuleSet rules, ILoggerFactory loggers) : IHostedService
{
    private readonly Lazy<Task> _run = new(() => CheckAsync(options.Value, rules, loggers.CreateLogger("Invalidator.Consistency")));

    /// <summary>Runs the checks once (later calls return the first run's outcome); throws <see cref="OptionsValidationException"/> on a misconfiguration.</summary>
    public Task RunAsync() => _run.Value;

    Task IHostedService.StartAsync(CancellationToken cancellationToken) => RunAsync().WaitAsync(cancellationToken);

    Task IHostedService.StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static async Task CheckAsync(InvalidatorOptions options, RuleSet rules, ILogger logger)
    {
        var consistency = options.Consistency;
        if (consistency.ReadReplicas.Count == 0)
        {
            return; // nothing to wait for; rules that wait without replicas were refused when the rules were loaded
        }

        // A replica that does not answer holds the start for its connection's Timeout (Npgsql's default 15 s) at most.
        var findings = await ReplicaChecks.RunAsync(consistency, rules, options.Source, CancellationToken.None).ConfigureAwait(false);
        foreach (var finding in findings)
        {
            if (finding.Problem == ReplicaProblem.Misconfigured)
            {
                Log.ReplicaCheckFailed(logger, finding.Message);
            }
            else
            {
                Log.ReplicaCheckUnreachable(logger, finding.Message);
            }
        }

        var errors = findings.Where(f => f.Problem == ReplicaProblem.Misconfigured).Select(f => f.Message).ToList();
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(InvalidatorOptions.SectionName, typeof(InvalidatorOptions), errors);
        }

        if (findings.Count == 0)
        {
            Log.ReplicaChecksPassed(logger, string.Join(", ", consistency.ReadReplicas.Keys.Order(StringComparer.Ordinal)),
                ReplicaChecks.NeedsPrimary(consistency, rules, options.Source) ? "; the primary (Invalidator:Consistency:Primary) answers" : "");
        }
    }
}
