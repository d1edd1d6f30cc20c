namespace Invalidator.Worker.Hosting;

/// <summary>The worker's exit codes, which an orchestrator (or a person) acts on.</summary>
internal static class ExitCodes
{
    /// <summary>The worker failed while running (a broker that is unreachable, a fatal Kafka error, a crash): restart it.</summary>
    public const int Failure = 1;

    /// <summary>Bad configuration, rules or database set-up: the message says what to fix; restarting will not help.</summary>
    public const int ConfigurationError = 2;
}
