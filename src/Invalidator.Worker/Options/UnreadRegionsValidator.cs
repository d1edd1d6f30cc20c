using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Options;

/// <summary>
/// The configuration binder drops a dictionary entry whose values it cannot convert (a mistyped
/// <c>DeleteCommand</c>, a word where a number belongs), and that region would then silently never be
/// invalidated. This compares the regions configured with the regions read, and names the bad value.
/// </summary>
internal sealed class UnreadRegionsValidator(IConfiguration configuration) : IValidateOptions<InvalidatorOptions>
{
    public ValidateOptionsResult Validate(string? name, InvalidatorOptions options)
    {
        var failures = new List<string>();
        foreach (var section in configuration.GetSection($"{InvalidatorOptions.SectionName}:Regions").GetChildren())
        {
            if (options.Regions.ContainsKey(section.Key))
            {
                continue;
            }

            try
            {
                _ = section.Get<RegionOptions>(o => o.ErrorOnUnknownConfiguration = false);
                failures.Add($"{section.Path} could not be read; check its values.");
            }
            catch (InvalidOperationException ex)
            {
                failures.Add($"{section.Path} could not be read: {ex.Message}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
