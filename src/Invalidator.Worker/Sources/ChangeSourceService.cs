using Invalidator.Worker.Consistency;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Sources;

/// <summary>What every one of the worker's sources takes from the host: the settings, planning, the apply step, the exit, the clock and the events.</summary>
internal sealed record SourceHost(
    IOptions<InvalidatorOptions> Options, RecordIntake Planner, BatchApplier Applier, WorkerExit Exit, TimeProvider Time, WorkerEvents Events, ReplicaWait Replicas,
    RegionSet Regions);

/// <summary>
/// One of the worker's sources as a hosted service: it is opened (the source's start-up checks), then read by its
/// <see cref="SourceRunner"/> on a thread of its own until the worker stops; a crash fails the worker, and however it
/// ended, the runner's shutdown runs before the source closes its client.
/// </summary>
internal abstract class ChangeSourceService : BackgroundService, IChangeSource
{
    private readonly RegionSet _regions;

    protected ChangeSourceService(string name, SourceHost host, ILogger logger)
    {
        Options = host.Options.Value;
        Exit = host.Exit;
        Logger = logger;
        Time = host.Time;
        Events = host.Events;
        _regions = host.Regions;
        Runner = new SourceRunner(name, host.Planner, host.Applier, Options.Batching, Options.DeadLetter.MaxRecordBytes, Time, Events, replicas: host.Replicas);
    }

    protected InvalidatorOptions Options { get; }

    protected WorkerExit Exit { get; }

    protected ILogger Logger { get; }

    protected TimeProvider Time { get; }

    protected WorkerEvents Events { get; }

    protected SourceRunner Runner { get; }

    public abstract ValueTask<SourceRead> ReadAsync(TimeSpan wait, Task wake, CancellationToken cancellationToken);

    public abstract void Acknowledge(AcknowledgedPosition position);

    /// <summary>The source's start-up checks and client; false when it cannot start (reported, and the worker's exit set).</summary>
    protected abstract Task<bool> OpenAsync(CancellationToken stoppingToken);

    /// <summary>Closes the client, after the runner's shutdown: nothing more is acknowledged.</summary>
    protected abstract ValueTask CloseAsync();

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // A source's reads may block (Kafka's Consume): keep them off the thread that starts the host.
        Task.Run(() => RunAsync(stoppingToken), CancellationToken.None);

    /// <summary>The host disposes a service after stopping it: the runner's shutdown has run by then.</summary>
    public override void Dispose()
    {
        Runner.Dispose();
        base.Dispose();
    }

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        try
        {
            // Before the source opens: a worker that says it is ready invalidates its first change at full speed.
            await StartupWarmUp.RunAsync(_regions, Options.Batching, Logger, Time, stoppingToken).ConfigureAwait(false);
            if (await OpenAsync(stoppingToken).ConfigureAwait(false))
            {
                await Runner.RunAsync(this, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: what is unfinished is not acknowledged and will be read again.
        }
        catch (Exception ex)
        {
            Log.WorkerCrashed(Logger, ex);
            Exit.Fail(ex.Message);
            throw;
        }
        finally
        {
            await Runner.StopAsync(Exit.Reason ?? (stoppingToken.IsCancellationRequested ? "shutting down" : "ended")).ConfigureAwait(false);
            await CloseAsync().ConfigureAwait(false);
        }
    }
}
