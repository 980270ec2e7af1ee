package org.guardianportal.sis;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Verifies a guardian-portal webhook (Standard Webhooks 1.0) with the JDK only.
 *
 * <p>Signed content: {@code webhook-id + "." + webhook-timestamp + "." + body} (the raw body
 * bytes). Key: the base64 part of the {@code whsec_...} secret. The {@code webhook-signature}
 * header holds one or more space-separated {@code v1,<base64>} signatures (two while the
 * district rotates the secret): accept the request when any one matches, and refuse a
 * timestamp more than five minutes from your clock.
 *
 * <p>Command line (used by the portal's tests): {@code java -cp sis-consumer.jar
 * org.guardianportal.sis.WebhookVerifier SECRET ID TIMESTAMP SIGNATURES < body} prints
 * {@code valid} or {@code invalid}.
 */
public final class WebhookVerifier {
  static final long TOLERANCE_SECONDS = 5 * 60;

  private WebhookVerifier() {}

  public static boolean verify(
      String secret, String id, String timestamp, byte[] body, String signatures, long nowSeconds)
      throws NoSuchAlgorithmException, InvalidKeyException {
    long ts;
    try {
      ts = Long.parseLong(timestamp);
    } catch (NumberFormatException e) {
      return false;
    }
    if (Math.abs(nowSeconds - ts) > TOLERANCE_SECONDS) {
      return false;
    }
    byte[] key = Base64.getDecoder().decode(secret.replaceFirst("^whsec_", ""));
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(key, "HmacSHA256"));
    mac.update((id + "." + timestamp + ".").getBytes(StandardCharsets.UTF_8));
    byte[] expected =
        ("v1," + Base64.getEncoder().encodeToString(mac.doFinal(body)))
            .getBytes(StandardCharsets.UTF_8);
    for (String candidate : signatures.split(" ")) {
      // Constant-time comparison.
      if (MessageDigest.isEqual(expected, candidate.getBytes(StandardCharsets.UTF_8))) {
        return true;
      }
    }
    return false;
  }

  public static void main(String[] args) throws Exception {
    byte[] body;
    try {
      body = System.in.readAllBytes();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    boolean ok =
        verify(args[0], args[1], args[2], body, args[3], System.currentTimeMillis() / 1000);
    System.out.println(ok ? "valid" : "invalid");
  }
}
