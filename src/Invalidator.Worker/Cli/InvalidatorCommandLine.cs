using System.CommandLine;
using Invalidator.Worker.Cli.Audit;
using Invalidator.Worker.Cli.Replay;

namespace Invalidator.Worker.Cli;

/// <summary>The command line: <c>run</c> (the default), <c>explain</c>, <c>rules check</c>, <c>rules diff</c>, <c>dlq replay</c>, <c>audit</c>, <c>replay</c> and <c>probe</c>.</summary>
internal static class InvalidatorCommandLine
{
    public static Task<int> InvokeAsync(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        var root = Build(output ?? Console.Out, error ?? Console.Error);
        return root.Parse(args).InvokeAsync();
    }

    private static RootCommand Build(TextWriter output, TextWriter error)
    {
        var root = new RootCommand("Invalidator: deletes cache keys in every region's Redis when Debezium reports a row change.");
        var run = RunCommand.Build(error);
        root.Subcommands.Add(run);
        root.Subcommands.Add(ExplainCommand.Build(output, error));
        root.Subcommands.Add(RulesCommand.Build(output, error));
        root.Subcommands.Add(DlqCommand.Build(output, error));
        root.Subcommands.Add(AuditCommand.Build(output, error));
        root.Subcommands.Add(ReplayCommand.Build(output, error));
        root.Subcommands.Add(ProbeCommand.Build(output, error));

        // No command means run, with run's options.
        foreach (var option in run.Options)
        {
            root.Options.Add(option);
        }

        root.Action = run.Action;
        return root;
    }
}
