using Invalidator.Worker.Options;
using Microsoft.Extensions.Configuration;

namespace Invalidator.IntegrationTests.Security;

/// <summary>The credential and TLS keys are known to the unknown-keys check, and a misspelt one is caught with the right name.</summary>
public sealed class SecurityOptionKeysTests
{
    private static List<string> Failures(params (string Key, string? Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        var result = new UnknownKeysValidator(configuration, ConfigurationSchema.Worker).Validate(null, new InvalidatorOptions());
        return result.Failed ? [.. result.Failures!] : [];
    }

    [Fact]
    public void User_password_password_file_and_tls_ca_file_are_known_keys()
    {
        Assert.Empty(Failures(
            ("Invalidator:Regions:east:Redis", "redis:6380,ssl=true"),
            ("Invalidator:Regions:east:User", "invalidator"),
            ("Invalidator:Regions:east:Password", "p,w"),
            ("Invalidator:Regions:west:PasswordFile", "/run/secrets/redis-password"),
            ("Invalidator:Regions:west:TlsCaFile", "/etc/invalidator/ca.crt"),
            ("Invalidator:Postgres:Password", "p;w"),
            ("Invalidator:Postgres:PasswordFile", "/run/secrets/pg-password")));
    }

    [Fact]
    public void A_misspelt_password_file_key_names_the_right_one()
    {
        Assert.Equal(
            ["Invalidator:Regions:east:PaswordFile is not a known key; the closest known key is Invalidator:Regions:east:PasswordFile. Correct or remove it."],
            Failures(("Invalidator:Regions:east:PaswordFile", "/run/secrets/x")));
    }
}
