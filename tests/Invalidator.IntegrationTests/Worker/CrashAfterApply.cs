using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>
/// Simulates a process dying between "every region applied" and "position acknowledged" (Kafka offset stored,
/// or replication LSN confirmed): the n-th applied batch throws, which stops the worker without acknowledging it.
/// </summary>
internal sealed class CrashAfterApply(int crashAt = 1) : IBatchListener
{
    private int _batches;
    private volatile bool _crashed;

    public int Batches => Volatile.Read(ref _batches);

    public bool Crashed => _crashed;

    public void OnApplied(SourceBatch batch)
    {
        if (Interlocked.Increment(ref _batches) == crashAt)
        {
            _crashed = true;
            throw new InvalidOperationException($"simulated crash after batch {crashAt}, before it is acknowledged");
        }
    }

    /// <summary>Waits until the crashed worker's host is stopping, then finishes stopping it.</summary>
    public static async Task WaitForStopAsync(IHost host, TimeSpan deadline)
    {
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        await Eventually.AssertAsync(() => lifetime.ApplicationStopping.IsCancellationRequested, deadline, "the crashed worker stops its host");
        await WorkerHosts.StopAsync(host).ContinueWith(_ => { }, TaskScheduler.Default);
    }
}
