using System.Text;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

public static class AuthApi
{
    public const string RateLimitPolicy = "auth";

    public static void MapAuth(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/v1/auth").WithTags("Auth");
        var anonymous = auth.MapGroup("").RequireRateLimiting(RateLimitPolicy);
        anonymous.MapPost("/login", (LoginRequest body, HttpContext http, AuthActions actions, CancellationToken ct) =>
            actions.LoginAsync(body, CurrentUser.AddressOf(http), CurrentUser.UserAgentOf(http), ct));
        anonymous.MapPost("/visitor", (VisitorRequest body, AuthActions actions, CancellationToken ct) =>
            actions.VisitorAsync(body, ct));
        anonymous.MapPost("/customer", (CustomerAuthRequest body, AuthActions actions, CancellationToken ct) =>
            actions.CustomerAsync(body, ct));
        auth.MapPost("/logout", async (CurrentUser user, AuthActions actions, CancellationToken ct) =>
        {
            await actions.LogoutAsync(user, ct);
            return TypedResults.NoContent();
        }).RequireAuthorization();

        app.MapGet("/v1/me", (CurrentUser user) => TypedResults.Ok(user.ToDto())).RequireAuthorization().WithTags("Auth");
    }
}

public sealed class AuthActions(
    Db db, Tokens tokens, Access access, LoginThrottle throttle, Audit audit, CustomerActions customers,
    IPasswordHasher<StaffRow> hasher, Realtime.IEventBus bus, TimeProvider clock, IOptions<AuthOptions> options)
{
    // Verified against when the login is unknown, so that the answer takes as long as for a wrong password.
    private static readonly string DummyHash = new PasswordHasher<StaffRow>().HashPassword(new StaffRow(), "not-a-password");

    public async Task<TokenResponse> LoginAsync(LoginRequest body, string? address, string? userAgent, CancellationToken ct)
    {
        var v = new Validation();
        var login = v.Required("login", body.Login, 200).ToLowerInvariant();
        if (string.IsNullOrEmpty(body.Password))
            v.Add("password", "Required.");
        v.ThrowIfAny();

        var staff = await db.QuerySingleOrDefaultAsync<StaffRow>(StaffRow.SelectByLogin, new { login }, ct);
        var actor = AuditActor.Anonymous(address, userAgent);
        if (!await VerifyPasswordAsync(staff, login, body.Password!, actor, ct) || staff is null)
            throw ApiException.Unauthorized("Wrong login or password.");
        var session = await IssueAsync(UserKind.Staff, staff.Id, staff.OrgId, ct);
        await audit.RecordAsync(staff.OrgId, actor with { Kind = "staff", Id = staff.Id, Name = staff.Name }, AuditActions.Login, "staff", staff.Id, null, ct);
        return session;
    }

    /// <summary>
    /// Checks a staff password under the login throttle (429 when over a limit): the slot is taken before the hash is
    /// checked, so concurrent guesses cannot overrun the limit. A wrong password for a known account is written to the
    /// audit log, with the lock-out it may start (one event per limit reached); a disabled account never verifies.
    /// </summary>
    public async Task<bool> VerifyPasswordAsync(StaffRow? staff, string login, string password, AuditActor actor, CancellationToken ct)
    {
        var reservation = await throttle.ReserveAsync(login, actor.Address, ct);
        var verdict = hasher.VerifyHashedPassword(staff ?? new StaffRow(), staff?.PasswordHash ?? DummyHash, password);
        if (staff is null || staff.DisabledAt is not null || verdict == PasswordVerificationResult.Failed)
        {
            // Failures against a login nobody has belong to no organization's log.
            if (staff is not null)
            {
                await audit.RecordAsync(staff.OrgId, actor, AuditActions.LoginFailed, "staff", staff.Id, new { login }, ct);
                foreach (var key in reservation.FilledUp.Where(k => k.Scope != LoginThrottle.AddressScope))
                    await audit.RecordAsync(staff.OrgId, actor, AuditActions.LockedOut, "staff", staff.Id, new { scope = key.Scope, limit = key.Limit }, ct);
            }
            return false;
        }
        await throttle.ReleaseAsync(reservation, ct);
        if (verdict == PasswordVerificationResult.SuccessRehashNeeded)
            await db.ExecuteAsync("UPDATE staff SET password_hash = @hash WHERE id = @id", new { hash = hasher.HashPassword(staff, password), id = staff.Id }, ct);
        return true;
    }

    /// <summary>An anonymous visitor of one store: a new customer without an external id.</summary>
    public async Task<TokenResponse> VisitorAsync(VisitorRequest body, CancellationToken ct)
    {
        var store = await access.StoreByKeyAsync(body.StoreKey, ct);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var id = Ids.New("cus", clock);
        await db.ExecuteAsync("""
            INSERT INTO customers (id, org_id, visitor_store_id, created_at, updated_at) VALUES (@id, @orgId, @storeId, @now, @now)
            """, new { id, orgId = store.OrgId, storeId = store.Id, now }, ct);
        return await IssueAsync(UserKind.Customer, id, store.OrgId, ct);
    }

    /// <summary>Exchanges an identity token that the store's backend signed (HS256, organization's secret) for an access token.</summary>
    public async Task<TokenResponse> CustomerAsync(CustomerAuthRequest body, CancellationToken ct)
    {
        var store = await access.StoreByKeyAsync(body.StoreKey, ct);
        if (string.IsNullOrWhiteSpace(body.IdentityToken) || body.IdentityToken.Length > 8192)
            throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.",
                new Dictionary<string, string[]> { ["identity_token"] = ["Required: a JWT signed with HS256."] });
        var secret = await db.QuerySingleOrDefaultAsync<string>(
            "SELECT identity_secret FROM organizations WHERE id = @orgId", new { orgId = store.OrgId }, ct);
        var identity = await ValidateIdentityTokenAsync(body.IdentityToken, secret!)
            ?? throw ApiException.Unauthorized("The identity token is not valid: wrong signature, expired, or not HS256 with sub and exp.");

        var customerId = await customers.UpsertIdentityAsync(store.OrgId, identity.Sub, identity.Name, identity.Phone, identity.Vip, ct);
        return await IssueAsync(UserKind.Customer, customerId, store.OrgId, ct);
    }

    public async Task LogoutAsync(CurrentUser user, CancellationToken ct)
    {
        if (user.TokenHash is null)
            throw ApiException.Invalid("API keys do not log out; an org admin revokes them with DELETE /v1/api-clients/{id}.");
        await tokens.RevokeAsync(user.TokenHash, ct);
        await bus.PublishAsync(new Realtime.RealtimeEvent(Realtime.RealtimeEventKind.RevokeToken, TokenHash: user.TokenHash), ct);
    }

    public sealed record Identity(string Sub, string? Name, string? Phone, int? Vip);

    /// <summary>Checks signature (HS256 only: <c>alg: none</c> and others are refused), <c>exp</c> (required) and <c>nbf</c>.</summary>
    public async Task<Identity?> ValidateIdentityTokenAsync(string token, string secret)
    {
        var skew = options.Value.IdentityTokenClockSkew;
        var parameters = new TokenValidationParameters
        {
            IssuerSigningKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(secret)),
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ValidateIssuer = false,
            ValidateAudience = false,
            ValidateLifetime = true,
            LifetimeValidator = (notBefore, expires, _, _) =>
            {
                var now = clock.GetUtcNow().UtcDateTime;
                return expires is not null && now < expires.Value + skew && (notBefore is null || notBefore.Value - skew <= now);
            },
        };
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(token, parameters);
        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt || string.IsNullOrWhiteSpace(jwt.Subject) || jwt.Subject.Length > 128)
            return null;
        return new Identity(jwt.Subject, Claim(jwt, "name", 100), Claim(jwt, "phone", 32), Vip(jwt));
    }

    private static string? Claim(JsonWebToken jwt, string name, int max) =>
        jwt.TryGetPayloadValue<string>(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim()[..Math.Min(value.Trim().Length, max)] : null;

    private static int? Vip(JsonWebToken jwt)
    {
        if (jwt.TryGetPayloadValue<int>("vip", out var number))
            return Math.Clamp(number, 0, 10);
        return jwt.TryGetPayloadValue<string>("vip", out var text) && int.TryParse(text, out number) ? Math.Clamp(number, 0, 10) : null;
    }

    private async Task<TokenResponse> IssueAsync(UserKind kind, string userId, string orgId, CancellationToken ct)
    {
        var (token, expiresAt) = await tokens.IssueAsync(kind, userId, orgId, ct);
        var user = await tokens.AuthenticateAsync(token, Texts.DefaultLanguage, ct)
            ?? throw new InvalidOperationException("A token just issued did not authenticate.");
        return new TokenResponse(token, expiresAt, user.ToDto());
    }
}
