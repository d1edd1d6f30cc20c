using Microsoft.Extensions.Hosting;

namespace Invalidator.Worker.Hosting;

/// <summary>
/// How the worker ended: a part that fails records a non-zero exit code here and the host stops; <c>run</c>
/// returns the code, so an orchestrator sees the failure and restarts the process.
/// </summary>
internal sealed class WorkerExit(IHostApplicationLifetime lifetime)
{
    private int _code;

    public int Code => Volatile.Read(ref _code);

    public string? Reason { get; private set; }

    /// <summary>Records the first failure (later ones keep it) and stops the host.</summary>
    public void Fail(string reason, int code = ExitCodes.Failure)
    {
        Reason ??= reason;
        Interlocked.CompareExchange(ref _code, code, 0);
        lifetime.StopApplication();
    }
}
