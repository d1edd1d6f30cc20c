using Invalidator.Core.Coverage;

namespace Invalidator.Core.Tests.Coverage;

public class KeyShapeTests
{
    [Theory]
    [InlineData("session:17", "session:{#}")]
    [InlineData("session:9001", "session:{#}")]
    [InlineData("customer:7:orders:2024", "customer:{#}:orders:{#}")]
    [InlineData("v2:item", "v{#}:item")]
    [InlineData("order:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "order:{uuid}")]
    [InlineData("order:A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11:lines", "order:{uuid}:lines")]
    [InlineData("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{uuid}")]
    [InlineData("token:5f4dcc3b5aa765d61d8327deb882cf99", "token:{hex}")]
    [InlineData("{customer:7}:profile", "{customer:{#}}:profile")]
    [InlineData("feature-flags", "feature-flags")]
    [InlineData("", "")]
    [InlineData("deadbeefdeadbeef", "deadbeefdeadbeef")] // hex letters only: a word, not a number
    public void Folds_digit_runs_uuids_and_long_hex(string key, string shape) => Assert.Equal(shape, KeyShape.Of(key));

    [Theory]
    [InlineData("xa0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "xa{#}eebc{#}-{#}c{#}b-{#}ef{#}-bb{#}d-{#}bb{#}bd{#}a{#}")]
    [InlineData("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11z", "a{#}eebc{#}-{#}c{#}b-{#}ef{#}-bb{#}d-{#}bb{#}bd{#}a{#}z")]
    [InlineData("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "a{#}eebc{#}-{#}c{#}b-{#}ef{#}-bb{#}d-{#}bb{#}bd{#}a{#}")]
    public void A_uuid_glued_to_more_letters_or_cut_short_is_not_one(string key, string shape) => Assert.Equal(shape, KeyShape.Of(key));
}
