using Invalidator.Worker.Processing;

namespace Invalidator.Worker.Tests.Processing;

/// <summary>The pool's minimum of worker threads is raised above the processors' share, and never lowered.</summary>
public sealed class ThreadPoolFloorTests
{
    [Fact]
    public void Raises_a_lower_minimum_and_keeps_a_higher_one()
    {
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        try
        {
            Assert.True(ThreadPool.SetMinThreads(1, completionPorts));
            ThreadPoolFloor.Raise();
            ThreadPool.GetMinThreads(out var raised, out var ports);
            Assert.Equal(Environment.ProcessorCount + ThreadPoolFloor.BlockedThreads, raised);
            Assert.Equal(completionPorts, ports);

            var higher = Environment.ProcessorCount + ThreadPoolFloor.BlockedThreads + 10;
            Assert.True(ThreadPool.SetMinThreads(higher, completionPorts));
            ThreadPoolFloor.Raise();
            ThreadPool.GetMinThreads(out var kept, out _);
            Assert.Equal(higher, kept);
        }
        finally
        {
            ThreadPool.SetMinThreads(Math.Max(workers, ThreadPoolFloor.WorkerThreads), completionPorts);
        }
    }
}
