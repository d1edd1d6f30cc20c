using Invalidator.Worker.Options;
using StackExchange.Redis;

namespace Invalidator.Worker.Regions;

/// <summary>
/// The StackExchange.Redis configuration of a region: its <c>Redis</c> string plus the credentials given as options
/// of their own (<c>User</c>, <c>Password</c> or <c>PasswordFile</c>). Set on the parsed options, a password is
/// never split at its commas the way a <c>password=</c> inside the configuration string is. Every connection to a
/// region (the worker's, <c>audit</c>'s) is made from this, and the options validator checks it first.
/// </summary>
internal static class RegionRedisConfiguration
{
    /// <summary>The configuration to connect with; throws <see cref="SecretFileException"/> (with the fix) when the password file cannot be read.</summary>
    public static ConfigurationOptions Create(string name, RegionOptions region)
    {
        var options = ConfigurationOptions.Parse(region.Redis);
        if (!string.IsNullOrEmpty(region.User))
        {
            options.User = region.User;
        }

        if (!string.IsNullOrEmpty(region.PasswordFile))
        {
            options.Password = SecretFile.Read(region.PasswordFile, $"Invalidator:Regions:{name}:PasswordFile");
        }
        else if (!string.IsNullOrEmpty(region.Password))
        {
            options.Password = region.Password;
        }

        return options;
    }
}
