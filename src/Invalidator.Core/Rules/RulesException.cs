namespace Invalidator.Core.Rules;

/// <summary>One problem in a rules file. Line and column are 1-based; both are 0 when the file could not be read.</summary>
public sealed record RuleError(string File, int Line, int Column, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column}: {Message}";
}

/// <summary>The rules file is unusable. Holds every error found, so one `rules check` run shows them all.</summary>
public sealed class RulesException : Exception
{
    public RulesException(IReadOnlyList<RuleError> errors)
        : base(string.Join('\n', errors ?? throw new ArgumentNullException(nameof(errors))))
    {
        Errors = [.. errors];
    }

    public IReadOnlyList<RuleError> Errors { get; }
}
