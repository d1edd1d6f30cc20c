using System.CommandLine;
using Invalidator.Core.Rules;

namespace Invalidator.Worker.Cli;

/// <summary><c>rules check &lt;file&gt;</c>: validates a rules file as the worker's start does.</summary>
internal static class RulesCommand
{
    public static Command Build(TextWriter output, TextWriter error)
    {
        var file = new Argument<FileInfo>("file") { Description = "The rules file (YAML)." };
        var check = new Command("check", "Check a rules file: exit 0 with a summary, or non-zero with file:line:column and how to fix each error.") { file };
        check.SetAction(parse =>
        {
            var path = parse.GetValue(file)!.FullName;
            try
            {
                var rules = RulesLoader.LoadFile(path);
                var keys = rules.Tables.Values.Sum(t => t.Keys.Count);
                var tags = rules.Tables.Values.Sum(t => t.Tags.Count);
                output.WriteLine($"{path}: OK, {rules.Tables.Count} tables, {keys} key templates, {tags} tag templates");
                return 0;
            }
            catch (RulesException ex)
            {
                foreach (var rule in ex.Errors)
                {
                    error.WriteLine(rule.ToString());
                }

                error.WriteLine($"{ex.Errors.Count} error(s) in {path}");
                return 1;
            }
        });
        return new Command("rules", "Work with rules files.") { check };
    }
}
