using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using StoreLink.Server.Accounts;

namespace StoreLink.Server.Web.Console;

/// <summary>
/// The console's cookie session. The cookie holds an ordinary staff access token (the one <c>POST /v1/auth/login</c>
/// issues), so a session is checked against the database on every page, ends everywhere when the token is revoked and
/// needs no key shared between nodes. It is sent only to <c>/console</c> (HttpOnly, SameSite=Lax); the REST API and
/// the WebSocket never accept it — the page hands the token to its script, which uses it as a bearer credential.
/// </summary>
public sealed class ConsoleSessionHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, Tokens tokens)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ConsoleSession";
    public const string CookieName = "storelink_console";
    private const string TokenItem = "StoreLink.ConsoleToken";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Cookies.TryGetValue(CookieName, out var token) || string.IsNullOrEmpty(token))
            return AuthenticateResult.NoResult();
        var user = await tokens.AuthenticateAsync(token, ConsoleStrings.LanguageOf(Context), Context.RequestAborted);
        if (user is not { IsStaff: true })
        {
            Response.Cookies.Delete(CookieName, CookieOptions(Request, null));
            return AuthenticateResult.Fail("The console session ended.");
        }
        Context.Items[CurrentUser.ItemKey] = user.From(Context);
        Context.Items[TokenItem] = token;
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user.Id), new Claim(ClaimTypes.Name, user.Name)], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var back = Request.PathBase + Request.Path + Request.QueryString;
        Response.Redirect("/console/login?return_url=" + Uri.EscapeDataString(back));
        return Task.CompletedTask;
    }

    /// <summary>The access token of the signed-in page, for its script.</summary>
    public static string? TokenOf(HttpContext http) => http.Items[TokenItem] as string;

    public static CookieOptions CookieOptions(HttpRequest request, DateTimeOffset? expires) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Lax,
        Secure = request.IsHttps,
        Path = "/console",
        Expires = expires,
        IsEssential = true,
    };
}
