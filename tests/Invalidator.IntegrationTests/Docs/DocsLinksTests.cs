using System.Text.RegularExpressions;
using Invalidator.IntegrationTests.Cli;

namespace Invalidator.IntegrationTests.Docs;

/// <summary>
/// The documentation's links stay valid (issue 18 §5): every relative link in README.md, docs/, bench/README.md, the
/// client's README and deploy/ names a file that exists and, with a #anchor, a heading of that file under GitHub's
/// anchor rules (lowercase, punctuation removed, spaces to '-', "-1", "-2" for repeated headings).
/// </summary>
public sealed partial class DocsLinksTests
{
    [Fact]
    public void Every_relative_link_and_anchor_resolves()
    {
        var files = MarkdownFiles(CliFiles.Repository).ToList();

        Assert.Contains(files, f => f.EndsWith(Path.Combine("docs", "consistency.md"), StringComparison.Ordinal));
        Assert.Empty(files.SelectMany(f => BrokenLinks(CliFiles.Repository, f)));
    }

    [Fact]
    public void The_readme_links_every_docs_page()
    {
        var readme = File.ReadAllText(Path.Combine(CliFiles.Repository, "README.md"));
        var pages = Directory.GetFiles(Path.Combine(CliFiles.Repository, "docs"), "*.md").Select(Path.GetFileName);

        Assert.All(pages, page => Assert.Contains($"](docs/{page})", readme, StringComparison.Ordinal));
    }

    [Fact]
    public void Anchors_follow_GitHubs_rules()
    {
        Assert.Equal("cache-targets-redis-keys-fusioncache-aspnet-core-output-cache", Anchor("Cache targets: Redis keys, FusionCache, ASP.NET Core output cache"));
        Assert.Equal("audit-cached-keys-that-nothing-can-invalidate", Anchor("`audit`: cached keys that nothing can invalidate"));
        Assert.Equal("the-set-after-delete-race-measured", Anchor("The set-after-delete race, measured"));
    }

    /// <summary>Control: the check finds a missing file and a missing anchor, and accepts a repeated heading's "-1".</summary>
    [Fact]
    public void The_check_reports_a_missing_file_and_a_missing_anchor()
    {
        var root = Directory.CreateTempSubdirectory("docs-links-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "README.md"), "# Top\n\nSee [a](b.md#there), [b](b.md#twice-1), [c](gone.md), [d](#top), [e](#nowhere).\n\n```\n[not a link](gone.md)\n```\n");
            File.WriteAllText(Path.Combine(root, "b.md"), "# B\n\n## Twice\n\n## Twice\n");

            var broken = BrokenLinks(root, Path.Combine(root, "README.md")).ToList();

            Assert.Equal(["README.md:3: b.md#there", "README.md:3: gone.md", "README.md:3: #nowhere"], broken);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static IEnumerable<string> MarkdownFiles(string root)
    {
        string[] single = ["README.md", Path.Combine("bench", "README.md"), Path.Combine("src", "Invalidator.Client", "README.md")];
        return single.Select(f => Path.Combine(root, f))
            .Concat(Directory.GetFiles(Path.Combine(root, "docs"), "*.md"))
            .Concat(Directory.GetFiles(Path.Combine(root, "deploy"), "*.md", SearchOption.AllDirectories));
    }

    /// <summary>"file:line: target" for each relative link whose file or anchor is missing (code blocks are not read).</summary>
    private static IEnumerable<string> BrokenLinks(string root, string file)
    {
        var lines = File.ReadAllLines(file);
        var inCode = false;
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inCode = !inCode;
                continue;
            }

            if (inCode)
            {
                continue;
            }

            foreach (Match link in LinkPattern().Matches(lines[i]))
            {
                var target = link.Groups[1].Value;
                if (SchemePattern().IsMatch(target))
                {
                    continue;
                }

                var hash = target.IndexOf('#', StringComparison.Ordinal);
                var path = hash < 0 ? target : target[..hash];
                var resolved = path.Length == 0 ? file : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, path));
                var exists = File.Exists(resolved) || Directory.Exists(resolved);
                if (!exists || (hash >= 0 && !Anchors(resolved).Contains(target[(hash + 1)..])))
                {
                    yield return $"{Path.GetRelativePath(root, file)}:{i + 1}: {target}";
                }
            }
        }
    }

    /// <summary>The anchors of a markdown file's headings, outside code blocks; a repeated one gets "-1", "-2".</summary>
    private static HashSet<string> Anchors(string file)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        if (!file.EndsWith(".md", StringComparison.Ordinal))
        {
            return anchors;
        }

        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var inCode = false;
        foreach (var line in File.ReadLines(file))
        {
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inCode = !inCode;
                continue;
            }

            if (!inCode && HeadingPattern().Match(line) is { Success: true } heading)
            {
                var anchor = Anchor(heading.Groups[1].Value);
                var count = seen.GetValueOrDefault(anchor);
                seen[anchor] = count + 1;
                anchors.Add(count == 0 ? anchor : $"{anchor}-{count}");
            }
        }

        return anchors;
    }

    private static string Anchor(string heading) =>
        PunctuationPattern().Replace(heading.Trim().ToLowerInvariant(), "").Replace(' ', '-');

    [GeneratedRegex(@"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+""[^""]*"")?\)")]
    private static partial Regex LinkPattern();

    [GeneratedRegex(@"^[a-z][a-z0-9+.-]*:", RegexOptions.IgnoreCase)]
    private static partial Regex SchemePattern();

    [GeneratedRegex(@"^#{1,6}\s+(.*?)\s*#*\s*$")]
    private static partial Regex HeadingPattern();

    [GeneratedRegex(@"[^\p{L}\p{Nd}\p{Mn}\p{Pc}\- ]")]
    private static partial Regex PunctuationPattern();
}
