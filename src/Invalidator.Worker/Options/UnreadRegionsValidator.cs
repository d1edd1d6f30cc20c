using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Options;

/// <summary>
/// The configuration binder drops a dictionary entry whose values it cannot convert (a mistyped
/// <c>DeleteCommand</c> or <c>Target</c>, a word where a number belongs), and that region would then silently never be
/// invalidated. This compares the regions configured with the regions read, and names the bad value (with the
/// accepted names, for a choice such as <c>Target</c>).
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

            var choices = BadChoices(section, typeof(RegionOptions)).ToList();
            if (choices.Count > 0)
            {
                failures.AddRange(choices);
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

    /// <summary>Each value of an enum-typed option below <paramref name="section"/> that names none of the enum's values.</summary>
    private static IEnumerable<string> BadChoices(IConfigurationSection section, Type options)
    {
        foreach (var property in options.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var child = section.GetSection(property.Name);
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (type.IsEnum && child.Value is { } value && !Enum.TryParse(type, value, ignoreCase: true, out _))
            {
                yield return $"{child.Path} is '{value}': use one of {string.Join(", ", Enum.GetNames(type))}.";
            }
            else if (type.IsClass && type != typeof(string) && type.Namespace == typeof(RegionOptions).Namespace)
            {
                foreach (var failure in BadChoices(child, type))
                {
                    yield return failure;
                }
            }
        }
    }
}
