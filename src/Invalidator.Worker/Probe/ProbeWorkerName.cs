namespace Invalidator.Worker.Probe;

/// <summary>
/// The name a worker probes under: its row of the canary table and the middle of its canaries' names. The host name,
/// which is stable for a process's life and, on Kubernetes, is the pod's name (a StatefulSet's pods keep theirs).
/// </summary>
internal sealed record ProbeWorkerName(string Value)
{
    public static ProbeWorkerName FromHost() =>
        new(Environment.GetEnvironmentVariable("HOSTNAME") is { Length: > 0 } host ? host : Environment.MachineName);
}
