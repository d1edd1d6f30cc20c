using Microsoft.Extensions.Hosting;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>Stopping the in-process workers a test harness started.</summary>
public static class WorkerHosts
{
    /// <summary>Stops one worker gracefully (the source is closed, acknowledged positions committed).</summary>
    public static async Task StopAsync(IHost host)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await host.StopAsync(timeout.Token);
    }

    /// <summary>Stops and disposes every host, including ones that crashed on purpose.</summary>
    public static async Task StopAndDisposeAllAsync(IEnumerable<IHost> hosts)
    {
        foreach (var host in hosts)
        {
            try
            {
                await StopAsync(host);
            }
            catch (Exception)
            {
                // A host that crashed on purpose may throw again on stop; it is being discarded anyway.
            }

            host.Dispose();
        }
    }
}
