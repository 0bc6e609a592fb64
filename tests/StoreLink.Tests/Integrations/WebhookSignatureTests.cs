using StoreLink.Protocol;

namespace StoreLink.Tests.Integrations;

/// <summary>The signing both directions use: it must reproduce the Standard Webhooks reference vector, or receivers' libraries refuse us.</summary>
public sealed class WebhookSignatureTests
{
    private const string Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private const string Id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    private const string Body = """{"test": 2432232314}""";
    private static readonly DateTimeOffset SignedAt = DateTimeOffset.FromUnixTimeSeconds(1614265330);

    [Fact]
    public void Signing_reproduces_the_published_test_vector() =>
        Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", WebhookSignature.Sign(Secret, Id, 1614265330, Body));

    [Fact]
    public void Verification_accepts_the_vector_and_any_of_several_signatures_within_five_minutes()
    {
        var signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        Assert.Equal(WebhookVerification.Valid, WebhookSignature.Verify(Secret, Id, "1614265330", signature, Body, SignedAt));
        Assert.Equal(WebhookVerification.Valid, WebhookSignature.Verify(Secret, Id, "1614265330", "v1,bm9wZQ== " + signature, Body, SignedAt.AddMinutes(4)));
        Assert.Equal(WebhookVerification.Valid, WebhookSignature.Verify(Secret, Id, "1614265330", signature, Body, SignedAt.AddMinutes(-4)));
    }

    [Theory]
    [InlineData(Secret, Id, "1614265330", """{"test": 2432232315}""")]                       // body changed
    [InlineData(Secret, "msg_other", "1614265330", Body)]                                     // id changed
    [InlineData(Secret, Id, "1614265331", Body)]                                              // timestamp changed
    [InlineData("whsec_c2VjcmV0LW9mLWFub3RoZXItc3lzdGVt", Id, "1614265330", Body)]           // another secret
    [InlineData(Secret, Id, "", Body)]
    [InlineData(Secret, Id, "-1614265330", Body)]
    [InlineData(Secret, Id, "1614265330.0", Body)]
    [InlineData(Secret, "", "1614265330", Body)]
    public void Anything_changed_or_missing_is_an_invalid_signature(string secret, string id, string timestamp, string body) =>
        Assert.Equal(WebhookVerification.InvalidSignature,
            WebhookSignature.Verify(secret, id, timestamp, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body, SignedAt));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")]
    [InlineData("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")]
    public void A_missing_or_foreign_signature_header_is_invalid(string? header) =>
        Assert.Equal(WebhookVerification.InvalidSignature, WebhookSignature.Verify(Secret, Id, "1614265330", header, Body, SignedAt));

    [Fact]
    public void A_correct_signature_older_or_newer_than_five_minutes_is_stale()
    {
        var signature = WebhookSignature.Sign(Secret, Id, 1614265330, Body);
        Assert.Equal(WebhookVerification.StaleTimestamp, WebhookSignature.Verify(Secret, Id, "1614265330", signature, Body, SignedAt.AddMinutes(5).AddSeconds(1)));
        Assert.Equal(WebhookVerification.StaleTimestamp, WebhookSignature.Verify(Secret, Id, "1614265330", signature, Body, SignedAt.AddMinutes(-6)));
    }

    [Fact]
    public void Headers_carry_a_signature_that_verifies()
    {
        var now = DateTimeOffset.UtcNow;
        var headers = WebhookSignature.Headers(Secret, "evt_1", now, "{}").ToDictionary(h => h.Key, h => h.Value);
        Assert.Equal(now.ToUnixTimeSeconds().ToString(), headers["webhook-timestamp"]);
        Assert.Equal(WebhookVerification.Valid,
            WebhookSignature.Verify(Secret, headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"], "{}", now));
    }
}
