using System.Diagnostics;
using Xunit.Sdk;

namespace Invalidator.IntegrationTests.Infrastructure;

/// <summary>Waits for asynchronous effects by polling with a deadline, never by fixed sleeps.</summary>
public static class Eventually
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Polls <paramref name="condition"/> every 50 ms until it returns true; fails the test with
    /// <paramref name="because"/> if the deadline passes. An exception from the condition counts as
    /// "not yet" (a server may be restarting) and is reported if the deadline passes.
    /// </summary>
    public static async Task AssertAsync(Func<Task<bool>> condition, TimeSpan timeout, string because)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await condition().ConfigureAwait(false))
                {
                    return;
                }

                last = null;
            }
            catch (Exception e)
            {
                last = e;
            }

            if (clock.Elapsed >= timeout)
            {
                var detail = last is null ? "" : $" Last attempt threw {last.GetType().Name}: {last.Message}";
                throw new XunitException($"Not true within {timeout.TotalSeconds:0.###} s: {because}.{detail}");
            }

            await Task.Delay(PollInterval).ConfigureAwait(false);
        }
    }

    public static Task AssertAsync(Func<bool> condition, TimeSpan timeout, string because)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return AssertAsync(() => Task.FromResult(condition()), timeout, because);
    }
}
