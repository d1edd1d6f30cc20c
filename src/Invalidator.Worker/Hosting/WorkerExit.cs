namespace Invalidator.Worker.Hosting;

/// <summary>
/// How the worker ended: a part that stops the host because of a failure records a non-zero exit code
/// here, and <c>run</c> returns it, so an orchestrator sees the failure and restarts the process.
/// </summary>
public sealed class WorkerExit
{
    private int _code;

    public int Code => Volatile.Read(ref _code);

    public string? Reason { get; private set; }

    public void Fail(string reason, int code = 1)
    {
        Reason ??= reason;
        Interlocked.CompareExchange(ref _code, code, 0);
    }
}
